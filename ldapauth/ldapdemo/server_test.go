package ldapdemo

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

func TestURL(t *testing.T) {
	s := startDemo(t)
	if !strings.HasPrefix(s.URL(), "ldap://127.0.0.1:") || strings.HasSuffix(s.URL(), ":0") {
		t.Errorf("URL = %q, want ldap://127.0.0.1:<port>", s.URL())
	}
	if s.URL() != "ldap://"+s.Addr() {
		t.Errorf("URL %q and Addr %q disagree", s.URL(), s.Addr())
	}
}

func TestStartFile(t *testing.T) {
	s, err := Start(t.Context(), demoLDIF)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer s.Close()
	if s.Directory().BaseDN() != base {
		t.Errorf("BaseDN = %q", s.Directory().BaseDN())
	}
	bindService(t, s)

	if _, err := Start(t.Context(), t.TempDir()+"/missing.ldif"); err == nil {
		t.Error("Start with a missing file succeeded")
	}
	if _, err := StartDirectory(t.Context(), nil); err == nil {
		t.Error("StartDirectory(nil) succeeded")
	}
}

func TestStartBadAddr(t *testing.T) {
	before := runtime.NumGoroutine()
	if _, err := StartDirectory(t.Context(), loadDemo(t), WithAddr("127.0.0.1:99999")); err == nil {
		t.Fatal("StartDirectory with port 99999 succeeded")
	}
	// The internal directory started before the listen failed; it must be gone.
	waitGoroutines(t, before)
}

// TestConcurrentClients runs the authenticator's sequence from many clients
// at once: service bind, user search, user bind, group search.
func TestConcurrentClients(t *testing.T) {
	s := startDemo(t)
	accounts := s.Directory().Accounts()
	const rounds = 5
	var wg sync.WaitGroup
	errs := make(chan error, 4*len(accounts)*rounds)
	for i := range 4 * len(accounts) {
		a := accounts[i%len(accounts)]
		wg.Go(func() {
			for range rounds {
				if err := login(s, a); err != nil {
					errs <- fmt.Errorf("%s: %w", a.Username, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func login(s *Server, a Account) error {
	c, err := ldap.DialURL(s.URL())
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Bind(serviceDN, servicePW); err != nil {
		return fmt.Errorf("service bind: %w", err)
	}
	res, err := c.Search(userSearch(a.Username))
	if err != nil {
		return fmt.Errorf("user search: %w", err)
	}
	if len(res.Entries) != 1 || res.Entries[0].DN != a.DN {
		return fmt.Errorf("user search found %q, want %q", dnsOf(res.Entries), a.DN)
	}
	if err := c.Bind(a.DN, a.Password+"x"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		return fmt.Errorf("wrong password bind: %v", err)
	}
	if err := c.Bind(a.DN, a.Password); err != nil {
		return fmt.Errorf("user bind: %w", err)
	}
	res, err = c.Search(ldap.NewSearchRequest(groups, ldap.ScopeWholeSubtree, 0, 0, 0, false,
		"(&(objectClass=groupOfNames)(member="+ldap.EscapeFilter(a.DN)+"))", []string{"cn"}, nil))
	if err != nil {
		return fmt.Errorf("group search: %w", err)
	}
	var cns []string
	for _, e := range res.Entries {
		cns = append(cns, e.GetAttributeValue("cn"))
	}
	if !slices.Equal(cns, a.Groups) {
		return fmt.Errorf("groups %q, want %q", cns, a.Groups)
	}
	return nil
}

func TestCloseWithIdleClient(t *testing.T) {
	s, err := StartDirectory(t.Context(), loadDemo(t))
	if err != nil {
		t.Fatal(err)
	}
	c := bindService(t, s) // stays connected and idle, like a pooled connection
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return while a client was connected")
	}
	if _, err := c.Search(userSearch("demo")); err == nil {
		t.Error("search on a closed server succeeded")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCloseFreesPort(t *testing.T) {
	d := loadDemo(t)
	s, err := StartDirectory(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	bindService(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("dial after Close succeeded")
	}
	// The same address can be served again at once.
	s2, err := StartDirectory(t.Context(), d, WithAddr(addr))
	if err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	defer s2.Close()
	if s2.Addr() != addr {
		t.Errorf("Addr = %q, want %q", s2.Addr(), addr)
	}
	bindService(t, s2)
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := StartDirectory(t.Context(), loadDemo(t))
	if err != nil {
		t.Fatal(err)
	}
	var clients []*ldap.Conn
	for range 3 {
		c, err := ldap.DialURL(s.URL())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Bind(serviceDN, servicePW); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, c := range clients {
		_ = c.Close()
	}
	waitGoroutines(t, before)
}

// waitGoroutines fails unless the number of goroutines drops back to n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left, want %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestContextEndsServer(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s, err := StartDirectory(ctx, loadDemo(t))
	if err != nil {
		t.Fatal(err)
	}
	bindService(t, s)
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err != nil {
			break
		}
		_ = c.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still accepts connections after its context ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after context end: %v", err)
	}
}

func TestSessionsForgottenOnDisconnect(t *testing.T) {
	s := startDemo(t)
	for range 3 {
		c, err := ldap.DialURL(s.URL())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Bind(serviceDN, servicePW); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.sessions.mu.Lock()
		n := len(s.sessions.bound)
		s.sessions.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions remain after all clients left", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestUnsupportedOperations(t *testing.T) {
	s := startDemo(t)
	tests := []struct {
		name string
		do   func(c *ldap.Conn) error
		code uint16
		// go-ldap stops reading a connection whose StartTLS failed, so
		// that connection cannot be reused whatever the server does.
		clientKeepsConn bool
	}{
		{"start tls", func(c *ldap.Conn) error { return c.StartTLS(&tls.Config{ServerName: "127.0.0.1"}) }, ldap.LDAPResultUnavailable, false},
		{"modify", func(c *ldap.Conn) error {
			m := ldap.NewModifyRequest(demoDN, nil)
			m.Replace("mail", []string{"x@demo.example"})
			return c.Modify(m)
		}, ldap.LDAPResultUnwillingToPerform, true},
		{"add", func(c *ldap.Conn) error {
			a := ldap.NewAddRequest("uid=new,"+people, nil)
			a.Attribute("uid", []string{"new"})
			return c.Add(a)
		}, ldap.LDAPResultUnwillingToPerform, true},
		{"delete", func(c *ldap.Conn) error { return c.Del(ldap.NewDelRequest(demoDN, nil)) }, ldap.LDAPResultUnwillingToPerform, true},
		{"password modify", func(c *ldap.Conn) error {
			_, err := c.PasswordModify(ldap.NewPasswordModifyRequest(demoDN, "demo1234", "new"))
			return err
		}, ldap.LDAPResultProtocolError, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := bindService(t, s)
			if err := tt.do(c); !ldap.IsErrorWithCode(err, tt.code) {
				t.Fatalf("error = %v, want result code %d", err, tt.code)
			}
			if tt.clientKeepsConn {
				// The connection survives the refusal.
				if got := searchDNs(t, c, people, ldap.ScopeSingleLevel, "(uid=demo)"); !slices.Equal(got, []string{demoDN}) {
					t.Fatalf("search on the same connection found %q", got)
				}
			}
			// The directory is unchanged.
			if got := searchDNs(t, bindService(t, s), people, ldap.ScopeSingleLevel, "(mail=demo@demo.example)"); !slices.Equal(got, []string{demoDN}) {
				t.Fatalf("demo's mail changed: search found %q", got)
			}
			if err := login(s, s.Directory().Accounts()[0]); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestGarbageDoesNotHurtOthers(t *testing.T) {
	s := startDemo(t)
	good := bindService(t, s)
	for _, junk := range []string{"GET / HTTP/1.1\r\n\r\n", "\x30\x84\xff\xff\xff\xff", "\x16\x03\x01\x02\x00"} {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte(junk))
		_ = c.(*net.TCPConn).CloseWrite()
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 64)); err == nil {
			t.Errorf("junk %q got an answer", junk)
		}
		_ = c.Close()
	}
	if got := searchDNs(t, good, people, ldap.ScopeSingleLevel, "(uid=demo)"); !slices.Equal(got, []string{demoDN}) {
		t.Fatalf("search after junk found %q", got)
	}
	if err := login(s, s.Directory().Accounts()[0]); err != nil {
		t.Fatal(err)
	}
}
