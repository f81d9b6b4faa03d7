package sambatest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ncp-sso/idp/certs/certstest"

	"github.com/go-ldap/ldap/v3"
)

// The domain every DC serves.
const (
	Realm         = "EXAMPLE.TEST"
	Domain        = "EXAMPLE"
	BaseDN        = "DC=example,DC=test"
	UsersDN       = "CN=Users,DC=example,DC=test"
	AdminPassword = "Sambatest-Admin-1"
	// AdminDN is the domain administrator, for searches as a service account.
	AdminDN = "CN=Administrator,CN=Users,DC=example,DC=test"
	// LockoutThreshold is the domain's account lockout threshold: the
	// LockoutThreshold-th wrong password in a row locks the account for
	// 30 minutes.
	LockoutThreshold = 5

	installHint  = "apt-get install samba samba-ad-provision samba-dsdb-modules samba-vfs-modules"
	startTimeout = 60 * time.Second
	stopTimeout  = 10 * time.Second
)

// DC is one running Samba AD domain controller.
type DC struct {
	// IP is the loopback address it listens on (ports 389, 636).
	IP string
	// URL is ldap://IP:389 (StartTLS available), LDAPSURL ldaps://IP:636.
	URL, LDAPSURL string
	// CAFile is the PEM file of the CA that signed its certificate (SANs:
	// IP, 127.0.0.1, localhost).
	CAFile string
	// Dir holds the provisioned domain, smb.conf and samba's log.
	Dir string
	// Provisioned is how long provisioning took, Started how long the
	// server then took to answer.
	Provisioned, Started time.Duration

	conf    string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	exited  chan struct{}
	logFile string
	stopMu  sync.Mutex
	stopped bool
}

var (
	sharedOnce sync.Once
	shared     *DC
	sharedErr  error
	sharedSkip string
)

// Shared returns the test binary's domain controller, provisioning and
// starting it on first use. It skips the test when Samba is not installed
// (or not runnable), or fails it when CI or IDP_REQUIRE_PEERS is set.
func Shared(tb testing.TB) *DC {
	tb.Helper()
	sharedOnce.Do(func() {
		if msg := missing(); msg != "" {
			sharedSkip = msg
			return
		}
		shared, sharedErr = start()
	})
	switch {
	case sharedSkip != "":
		if os.Getenv("CI") != "" || os.Getenv("IDP_REQUIRE_PEERS") != "" {
			tb.Fatal(sharedSkip)
		}
		tb.Skip(sharedSkip)
	case sharedErr != nil:
		tb.Fatal(sharedErr)
	}
	return shared
}

// StopShared stops the shared DC, if one was started, and removes its
// directory. Call it from TestMain after m.Run.
func StopShared() error {
	if shared == nil {
		return nil
	}
	err := shared.Stop()
	if rmErr := os.RemoveAll(shared.Dir); err == nil {
		err = rmErr
	}
	return err
}

// missing says what is missing to run Samba, or "".
func missing() string {
	for _, bin := range []string{"samba", "samba-tool"} {
		if _, err := exec.LookPath(bin); err != nil {
			if _, err := os.Stat("/usr/sbin/" + bin); err != nil {
				return "sambatest: " + bin + " not found; run: " + installHint
			}
		}
	}
	if _, err := os.Stat("/usr/share/samba/setup/ad-schema"); err != nil {
		return "sambatest: AD schema files not found; run: " + installHint
	}
	if os.Geteuid() != 0 {
		return "sambatest: Samba AD must run as root (it listens on ports 389 and 636)"
	}
	return ""
}

func sambaBin() string {
	if p, err := exec.LookPath("samba"); err == nil {
		return p
	}
	return "/usr/sbin/samba"
}

// start provisions a domain into a new temporary directory and starts it.
func start() (*DC, error) {
	ip, err := freeLoopback()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sambatest-")
	if err != nil {
		return nil, fmt.Errorf("sambatest: %w", err)
	}
	d := &DC{IP: ip.String(), Dir: dir, conf: filepath.Join(dir, "etc", "smb.conf"), logFile: filepath.Join(dir, "samba.log")}
	d.URL, d.LDAPSURL = "ldap://"+d.IP+":389", "ldaps://"+d.IP+":636"
	fail := func(err error) (*DC, error) {
		_ = d.Stop()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	caFile, certFile, keyFile, err := certstest.WriteServerFiles(dir, "sambatest CA", []net.IP{ip}, []string{"dc1.example.test"})
	if err != nil {
		return fail(err)
	}
	d.CAFile = caFile
	if err := os.MkdirAll(filepath.Join(dir, "run"), 0o700); err != nil {
		return fail(err)
	}

	t0 := time.Now()
	opts := []string{
		"interfaces=" + d.IP + "/8", "bind interfaces only=yes", "server services=ldap",
		"log file=" + d.logFile, "pid directory=" + filepath.Join(dir, "run"),
		"tls enabled=yes", "tls keyfile=" + keyFile, "tls certfile=" + certFile, "tls cafile=" + caFile,
	}
	args := []string{"domain", "provision", "--realm=" + Realm, "--domain=" + Domain,
		"--server-role=dc", "--dns-backend=NONE", "--host-name=DC1", "--adminpass=" + AdminPassword,
		"--targetdir=" + dir}
	for _, o := range opts {
		args = append(args, "--option="+o)
	}
	if out, err := exec.Command("samba-tool", args...).CombinedOutput(); err != nil {
		return fail(fmt.Errorf("sambatest: samba-tool domain provision: %w\n%s", err, tail(out)))
	}
	// Lock out after LockoutThreshold wrong passwords for 30 minutes;
	// minimum password age 0 so tests may set passwords again.
	if _, err := d.sambaTool("domain", "passwordsettings", "set", "--min-pwd-age=0",
		fmt.Sprintf("--account-lockout-threshold=%d", LockoutThreshold),
		"--account-lockout-duration=30", "--reset-account-lockout-after=30"); err != nil {
		return fail(err)
	}
	d.Provisioned = time.Since(t0)

	t1 := time.Now()
	if err := d.run(); err != nil {
		return fail(err)
	}
	d.Started = time.Since(t1)
	return d, nil
}

// run starts samba in the foreground and waits until the administrator
// can bind over LDAPS with the CA verified.
func (d *DC) run() error {
	logf, err := os.OpenFile(d.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("sambatest: %w", err)
	}
	defer logf.Close()
	// -i: interactive (foreground, exits when stdin closes); -M single: one
	// process, so the PID we hold is the whole server.
	cmd := exec.Command(sambaBin(), "-s", d.conf, "-i", "-M", "single")
	cmd.Stdout, cmd.Stderr = logf, logf
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("sambatest: %w", err)
	}
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("sambatest: start samba: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	d.stopMu.Lock()
	d.cmd, d.stdin, d.exited, d.stopped = cmd, stdin, exited, false
	d.stopMu.Unlock()

	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("sambatest: samba exited during start: %v\n%s", cmd.ProcessState, d.Log())
		default:
		}
		err := d.ping()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sambatest: samba did not answer within %v: %w\n%s", startTimeout, err, d.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *DC) ping() error {
	c, err := d.dial()
	if err != nil {
		return err
	}
	return c.Close()
}

// dial connects over LDAPS and binds as the administrator.
func (d *DC) dial() (*ldap.Conn, error) {
	pool, err := certstest.ReadPool(d.CAFile)
	if err != nil {
		return nil, err
	}
	c, err := ldap.DialURL(d.LDAPSURL, ldap.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}),
		ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: d.IP}))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(10 * time.Second)
	if err := c.Bind(AdminDN, AdminPassword); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// freeLoopback picks a random 127.0.0.x whose LDAP ports are free.
func freeLoopback() (net.IP, error) {
	for range 20 {
		ip := net.IPv4(127, 0, 0, byte(10+rand.IntN(240)))
		if portsFree(ip, 389, 636, 3268, 3269) {
			return ip, nil
		}
	}
	return nil, errors.New("sambatest: no free loopback address for ports 389/636")
}

func portsFree(ip net.IP, ports ...int) bool {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for _, p := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort(ip.String(), fmt.Sprint(p)))
		if err != nil {
			return false
		}
		ls = append(ls, l)
	}
	return true
}

// Stop terminates samba by PID (SIGTERM, then SIGKILL after a grace
// period). It is idempotent; tests call it to simulate an outage.
func (d *DC) Stop() error {
	d.stopMu.Lock()
	defer d.stopMu.Unlock()
	if d.stopped || d.cmd == nil {
		return nil
	}
	d.stopped = true
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		_ = d.stdin.Close()
		return nil
	case <-time.After(stopTimeout):
	}
	_ = d.cmd.Process.Kill()
	<-d.exited
	_ = d.stdin.Close()
	return fmt.Errorf("sambatest: samba (pid %d) ignored SIGTERM for %v and was killed", d.cmd.Process.Pid, stopTimeout)
}

// Log returns the end of samba's log.
func (d *DC) Log() string {
	b, err := os.ReadFile(d.logFile)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return tail(b)
}

func tail(b []byte) string {
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// sambaTool runs samba-tool on the domain's database directly.
func (d *DC) sambaTool(args ...string) (string, error) {
	args = append(args, "--configfile="+d.conf, "-H", filepath.Join(d.Dir, "private", "sam.ldb"))
	var out bytes.Buffer
	cmd := exec.Command("samba-tool", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("sambatest: samba-tool %s: %w\n%s", strings.Join(args[:min(len(args), 3)], " "), err, tail(out.Bytes()))
	}
	return out.String(), nil
}

// SambaTool runs samba-tool with args against the domain (e.g. "user",
// "create", "alice", "Passw0rd!") and returns its output; a failure fails
// the test.
func (d *DC) SambaTool(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := d.sambaTool(args...)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// Conn returns an LDAPS connection bound as the administrator, closed at
// cleanup.
func (d *DC) Conn(tb testing.TB) *ldap.Conn {
	tb.Helper()
	c, err := d.dial()
	if err != nil {
		tb.Fatalf("sambatest: connect as administrator: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// CertPool returns a pool holding the DC's CA.
func (d *DC) CertPool(tb testing.TB) *x509.CertPool {
	tb.Helper()
	p, err := certstest.ReadPool(d.CAFile)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// pwdLastSetScript sets a user's password and pwdLastSet together through
// Samba's own Python bindings: over LDAP pwdLastSet accepts only 0 and -1,
// and Samba treats password ages under a day as "never expires", so an
// expired password can only be made by dating the last change back. The
// control is DSDB_CONTROL_PASSWORD_BYPASS_LAST_SET (local to Samba).
const pwdLastSetScript = `
import sys, ldb
from samba.samdb import SamDB
from samba.param import LoadParm
from samba.auth import system_session
conf, sam, dn, pw, filetime = sys.argv[1:6]
lp = LoadParm(); lp.load(conf)
db = SamDB(url=sam, session_info=system_session(), lp=lp)
m = ldb.Message(); m.dn = ldb.Dn(db, dn)
m["unicodePwd"] = ldb.MessageElement(('"%s"' % pw).encode("utf-16-le"), ldb.FLAG_MOD_REPLACE, "unicodePwd")
m["pwdLastSet"] = ldb.MessageElement(filetime, ldb.FLAG_MOD_REPLACE, "pwdLastSet")
db.modify(m, controls=["local_oid:1.3.6.1.4.1.7165.4.3.20:0"])
`

// SetPasswordChanged sets the password of the user entry dn and dates its
// last change to at, e.g. 60 days ago to make it expire under the domain's
// 42-day maximum password age.
func (d *DC) SetPasswordChanged(tb testing.TB, dn, password string, at time.Time) {
	tb.Helper()
	const epochDiff = 116444736000000000 // 100 ns from 1601 to 1970
	ft := at.UnixNano()/100 + epochDiff
	out, err := exec.Command("/usr/bin/python3", "-c", pwdLastSetScript, d.conf,
		filepath.Join(d.Dir, "private", "sam.ldb"), dn, password, fmt.Sprint(ft)).CombinedOutput()
	if err != nil {
		tb.Fatalf("sambatest: set pwdLastSet of %s: %v\n%s", dn, err, tail(out))
	}
}
