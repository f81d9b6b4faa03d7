package ldapauth

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestFailover(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	alice := f.user(t, "Alice", "alice", "", "pw-alice", nil)

	const timeout = 500 * time.Millisecond
	tests := []struct {
		name  string
		first string
		good  string
	}{
		{"dead then starttls", "ldap://" + closedPort(t), f.srv.URL},
		{"hung then starttls", "ldap://" + hungServer(t), f.srv.URL},
		{"hung ldaps then ldaps", "ldaps://" + hungServer(t), f.srv.LDAPSURL},
		{"dead ldaps then ldaps", "ldaps://" + closedPort(t), f.srv.LDAPSURL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := f.config()
			cfg.URLs = []string{tc.first, tc.good}
			cfg.DialTimeout, cfg.RequestTimeout = timeout, timeout
			a := f.newAuth(t, cfg)

			start := time.Now()
			mustLogin(t, a, "alice", "pw-alice", alice)
			// One timeout for the bad server (dial, or StartTLS/handshake),
			// then the good one answers quickly.
			if d := time.Since(start); d > 2*timeout+time.Second {
				t.Errorf("first login took %v", d)
			}
			mustRefuse(t, a, "alice", "wrong")

			// The failed server is now tried last: the user bind (a new
			// connection every login) does not wait for it again.
			start = time.Now()
			mustLogin(t, a, "alice", "pw-alice", alice)
			if d := time.Since(start); d > timeout {
				t.Errorf("login after failover took %v; the failed server was retried first", d)
			}
			if !strings.Contains(f.log.String(), `"event":"ldap_server_failed"`) {
				t.Errorf("server failure not logged")
			}
		})
	}

	t.Run("all down", func(t *testing.T) {
		t.Parallel()
		cfg := f.config()
		cfg.URLs = []string{"ldap://" + closedPort(t), "ldap://" + hungServer(t), "ldaps://" + hungServer(t)}
		cfg.DialTimeout, cfg.RequestTimeout = timeout, timeout
		a := f.newAuth(t, cfg)
		start := time.Now()
		err := mustOutage(t, a, "alice", "pw-alice")
		if d := time.Since(start); d > 3*timeout+time.Second {
			t.Errorf("outage took %v to report", d)
		}
		for _, u := range cfg.URLs {
			if !strings.Contains(err.Error(), u) {
				t.Errorf("error does not name %s: %v", u, err)
			}
		}
		// The socket deadline, not go-ldap's request timer, ends the wait
		// for a hung server; the log says so in words.
		if want := "did not answer within " + timeout.String(); !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	})
}

// TestCancelledLoginIsNotAnOutage: a login whose caller gives up (the
// browser went away) while a server is slow to answer is reported as
// abandoned, not as a directory outage, and does not mark that server
// down: the next logins still try it first.
func TestCancelledLoginIsNotAnOutage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.user(t, "Alice", "alice", "", "pw-alice", nil)
	cfg := f.config()
	cfg.URLs = []string{"ldap://" + hungServer(t), f.srv.URL}
	cfg.DialTimeout, cfg.RequestTimeout = 5*time.Second, 5*time.Second
	a := f.newAuth(t, cfg)

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	if _, ok, err := a.Authenticate(ctx, "alice", "pw-alice"); ok || err == nil {
		t.Fatalf("Authenticate with a cancelled caller = %v, %v; want an error", ok, err)
	}
	logged := f.log.String()
	if strings.Contains(logged, "directory_unavailable") || !strings.Contains(logged, `"event":"login_abandoned"`) {
		t.Errorf("a cancelled login was not logged as abandoned, or was logged as an outage:\n%s", logged)
	}
	a.dir.mu.Lock()
	down := !a.dir.servers[0].downUntil.IsZero()
	a.dir.mu.Unlock()
	if down {
		t.Error("the slow server was marked down because a caller gave up")
	}
}
