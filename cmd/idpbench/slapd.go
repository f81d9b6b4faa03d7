package main

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Directory layout of the generated slapd.
const (
	baseDN      = "dc=bench,dc=test"
	peopleDN    = "ou=people," + baseDN
	serviceDN   = "cn=svc," + baseDN
	servicePass = "svc-bench-secret"
	rootDN      = "cn=admin," + baseDN
	rootPass    = "bench-root-secret"
	mailDomain  = "bench.test"
)

// slapdIndexes are the equality indexes on the login attributes: the user
// search is (&(objectClass=inetOrgPerson)(|(uid=NAME)(mail=NAME))).
var slapdIndexes = []string{"objectClass eq", "uid eq", "mail eq", "entryUUID eq"}

// userName, userMail and userPassword derive user i's credentials.
func userName(i int) string     { return fmt.Sprintf("u%06d", i) }
func userMail(i int) string     { return userName(i) + "@" + mailDomain }
func userPassword(i int) string { return fmt.Sprintf("Pw-%06d!bench", i) }

// ssha is the {SSHA} userPassword form directories store.
func ssha(pw string) string {
	salt := make([]byte, 8)
	_, _ = rand.Read(salt)
	h := sha1.New()
	h.Write([]byte(pw))
	h.Write(salt)
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h.Sum(nil), salt...))
}

// writeLDIF writes the base entries, the service account and n users.
func writeLDIF(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: bench\no: bench\n\n", baseDN)
	fmt.Fprintf(&b, "dn: %s\nobjectClass: organizationalUnit\nou: people\n\n", peopleDN)
	fmt.Fprintf(&b, "dn: %s\nobjectClass: inetOrgPerson\ncn: svc\nsn: Service\nuserPassword: %s\n\n", serviceDN, ssha(servicePass))
	if _, err := f.WriteString(b.String()); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		b.Reset()
		fmt.Fprintf(&b, "dn: uid=%s,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: Bench User %d\nsn: User%d\nmail: %s\nuserPassword: %s\n\n",
			userName(i), peopleDN, userName(i), i, i, userMail(i), ssha(userPassword(i)))
		if _, err := f.WriteString(b.String()); err != nil {
			return err
		}
	}
	return f.Close()
}

// slapd is the running directory.
type slapd struct {
	URL string
	cmd *exec.Cmd
}

func slapdConfig(dir string) string {
	var b strings.Builder
	for _, s := range []string{"core", "cosine", "inetorgperson", "nis"} {
		fmt.Fprintf(&b, "include /etc/ldap/schema/%s.schema\n", s)
	}
	fmt.Fprintf(&b, "pidfile %s\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\nloglevel 0\n", filepath.Join(dir, "slapd.pid"))
	b.WriteString("database mdb\nmaxsize 4294967296\n")
	fmt.Fprintf(&b, "suffix %q\nrootdn %q\nrootpw %s\ndirectory %s\n", baseDN, rootDN, rootPass, filepath.Join(dir, "db"))
	for _, ix := range slapdIndexes {
		b.WriteString("index " + ix + "\n")
	}
	b.WriteString("access to attrs=userPassword by self write by anonymous auth by * none\n")
	b.WriteString("access to * by * read\n")
	return b.String()
}

// startSlapd generates n users, loads them with slapadd and starts slapd
// on a free loopback port, pinned to cpus (taskset list, "" for none).
func startSlapd(ctx context.Context, dir string, n int, cpus string) (*slapd, error) {
	bin := "/usr/sbin/slapd"
	if _, err := os.Stat(bin); err != nil {
		return nil, errors.New("idpbench: slapd not found; run: apt-get install slapd ldap-utils")
	}
	conf := filepath.Join(dir, "slapd.conf")
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(conf, []byte(slapdConfig(dir)), 0o600); err != nil {
		return nil, err
	}
	ldif := filepath.Join(dir, "users.ldif")
	if err := writeLDIF(ldif, n); err != nil {
		return nil, fmt.Errorf("idpbench: ldif: %w", err)
	}
	if out, err := exec.CommandContext(ctx, "/usr/sbin/slapadd", "-q", "-f", conf, "-l", ldif).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("idpbench: slapadd: %w: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &slapd{URL: fmt.Sprintf("ldap://127.0.0.1:%d", port)}
	logf, err := os.Create(filepath.Join(dir, "slapd.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s.cmd = pinned(cpus, bin, "-f", conf, "-h", s.URL+"/", "-d", "0")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	dieWithParent(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("idpbench: start slapd: %w", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		l, err := ldap.DialURL(s.URL)
		if err == nil {
			err = l.Bind(serviceDN, servicePass)
			l.Close()
			if err == nil {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("idpbench: slapd did not answer: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *slapd) pid() int { return s.cmd.Process.Pid }

func (s *slapd) stop() { stopProcess(s.cmd) }

// pinned returns a command that runs pinned to cpus with taskset, or
// unpinned when cpus is empty.
func pinned(cpus, bin string, args ...string) *exec.Cmd {
	if cpus == "" {
		return exec.Command(bin, args...)
	}
	return exec.Command("taskset", append([]string{"-c", cpus, bin}, args...)...)
}

// stopProcess sends SIGTERM, then SIGKILL after 10 s.
func stopProcess(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
