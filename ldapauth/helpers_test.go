package ldapauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/ldapauth/slapdtest"
)

// fixture is one test's slice of a real slapd: its own OU with a service
// account, and a log that every test checks for leaked passwords.
type fixture struct {
	srv       *slapdtest.Server
	ou        string
	svcDN     string
	svcPW     string
	passwords []string // every password used, none may reach the log
	log       *syncBuffer
}

func newFixture(t testing.TB, opts ...slapdtest.Option) *fixture {
	t.Helper()
	srv := slapdtest.Start(t, opts...)
	return newFixtureOn(t, srv)
}

// newFixtureOn gives a subtest its own OU on a shared server.
func newFixtureOn(t testing.TB, srv *slapdtest.Server) *fixture {
	t.Helper()
	f := &fixture{srv: srv, ou: srv.NewOU(t), svcPW: "svc-" + t.Name(), log: &syncBuffer{}}
	f.svcDN = "cn=svc," + f.ou
	f.passwords = append(f.passwords, f.svcPW)
	f.add(t, f.svcDN, map[string][]string{
		"objectClass":  {"person"},
		"cn":           {"svc"},
		"sn":           {"svc"},
		"userPassword": {f.svcPW},
	})
	t.Cleanup(func() {
		logged := f.log.String()
		for _, pw := range f.passwords {
			if pw != "" && strings.Contains(logged, pw) {
				t.Errorf("the log contains password %q:\n%s", pw, logged)
			}
		}
		if t.Failed() {
			t.Logf("authenticator log:\n%s", logged)
		}
	})
	return f
}

// add creates an entry; every value is base64-encoded so that any byte
// (NUL, "*", non-ASCII) reaches slapd unchanged.
func (f *fixture) add(t testing.TB, dn string, attrs map[string][]string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "dn:: %s\n", base64.StdEncoding.EncodeToString([]byte(dn)))
	for name, vs := range attrs {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s:: %s\n", name, base64.StdEncoding.EncodeToString([]byte(v)))
		}
	}
	f.srv.AddLDIF(t, b.String())
}

// user creates an inetOrgPerson cn=<cn>,<ou> and returns its DN.
func (f *fixture) user(t testing.TB, cn, uid, mail, password string, extra map[string][]string) string {
	t.Helper()
	dn := "cn=" + cn + "," + f.ou
	attrs := map[string][]string{
		"objectClass":  {"inetOrgPerson"},
		"cn":           {cn},
		"sn":           {cn},
		"userPassword": {password},
	}
	if uid != "" {
		attrs["uid"] = []string{uid}
	}
	if mail != "" {
		attrs["mail"] = []string{mail}
	}
	for k, v := range extra {
		attrs[k] = v
	}
	f.add(t, dn, attrs)
	f.passwords = append(f.passwords, password)
	return dn
}

// group creates a groupOfNames with the given member DNs.
func (f *fixture) group(t testing.TB, cn string, members ...string) string {
	t.Helper()
	dn := "cn=" + cn + "," + f.ou
	f.add(t, dn, map[string][]string{"objectClass": {"groupOfNames"}, "cn": {cn}, "member": members})
	return dn
}

// config is a StartTLS configuration for the fixture's OU with short
// timeouts.
func (f *fixture) config() Config {
	return Config{
		URLs:           []string{f.srv.URL},
		CAFile:         f.srv.CAFile,
		BindDN:         f.svcDN,
		BindPassword:   f.svcPW,
		DialTimeout:    2 * time.Second,
		RequestTimeout: 2 * time.Second,
		User:           UserConfig{BaseDN: f.ou},
	}
}

func (f *fixture) newAuth(t testing.TB, cfg Config, opts ...Option) *Authenticator {
	t.Helper()
	opts = append([]Option{WithLogger(slog.New(slog.NewJSONHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug})))}, opts...)
	a, err := New(cfg, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// outcome is what Authenticate returned, for comparisons.
type outcome struct {
	id  idp.Identity
	ok  bool
	err error
}

func login(t *testing.T, a *Authenticator, username, password string) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id, ok, err := a.Authenticate(ctx, username, password)
	if ok && err != nil {
		t.Fatalf("Authenticate(%q) = ok with error %v", username, err)
	}
	return outcome{id, ok, err}
}

// mustLogin fails unless the login succeeds as dn.
func mustLogin(t *testing.T, a *Authenticator, username, password, dn string) idp.Identity {
	t.Helper()
	o := login(t, a, username, password)
	if !o.ok || o.err != nil {
		t.Fatalf("Authenticate(%q) = (%v, %v), want success", username, o.ok, o.err)
	}
	if !strings.EqualFold(o.id.DN, dn) {
		t.Fatalf("Authenticate(%q) signed in %q, want %q", username, o.id.DN, dn)
	}
	return o.id
}

// mustRefuse fails unless the login is (false, nil).
func mustRefuse(t *testing.T, a *Authenticator, username, password string) {
	t.Helper()
	o := login(t, a, username, password)
	if o.ok || o.err != nil {
		t.Fatalf("Authenticate(%q) = (%v, %v, dn %q), want (false, nil)", username, o.ok, o.err, o.id.DN)
	}
}

// mustOutage fails unless the login returns an error wrapping
// idp.ErrDirectoryUnavailable.
func mustOutage(t *testing.T, a *Authenticator, username, password string) error {
	t.Helper()
	o := login(t, a, username, password)
	if o.ok || o.err == nil || !isUnavailable(o.err) {
		t.Fatalf("Authenticate(%q) = (%v, %v), want ErrDirectoryUnavailable", username, o.ok, o.err)
	}
	return o.err
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// hungServer accepts TCP connections and never answers, like a server
// whose process is stopped or a firewall that swallows the reply.
func hungServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never read or written
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func isUnavailable(err error) bool { return errors.Is(err, idp.ErrDirectoryUnavailable) }
