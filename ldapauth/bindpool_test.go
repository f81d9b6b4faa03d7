package ldapauth

import (
	"strings"
	"sync"
	"testing"
)

// idleBinds returns the bind pool's idle connections.
func idleBinds(a *Authenticator) []*conn {
	a.binds.mu.Lock()
	defer a.binds.mu.Unlock()
	return append([]*conn(nil), a.binds.idle...)
}

// whoAmI asks the server which identity c is bound as ("dn:..." or "" for
// anonymous).
func whoAmI(t *testing.T, c *conn) string {
	t.Helper()
	res, err := c.l.WhoAmI(nil)
	if err != nil {
		t.Fatalf("whoami: %v", err)
	}
	return strings.ToLower(res.AuthzID)
}

// TestBindPool: user binds run on pooled connections of their own, reused
// from login to login, and never on the connections that search.
func TestBindPool(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	alice := f.user(t, "Alice", "alice", "", "pw-alice", nil)
	bob := f.user(t, "Bob", "bob", "", "pw-bob", nil)

	t.Run("reused and separate from searches", func(t *testing.T) {
		a := f.newAuth(t, f.config())
		mustLogin(t, a, "alice", "pw-alice", alice)
		binds := idleBinds(a)
		if len(binds) != 1 {
			t.Fatalf("%d idle bind connections, want 1", len(binds))
		}
		first := binds[0]
		if search := onlyIdle(t, a); search == first {
			t.Fatal("the user bind ran on the search connection")
		}
		mustRefuse(t, a, "bob", "wrong")
		mustLogin(t, a, "bob", "pw-bob", bob)
		if got := idleBinds(a); len(got) != 1 || got[0] != first {
			t.Errorf("the bind connection was not reused across logins (a refused bind included)")
		}
		if got, want := whoAmI(t, onlyIdle(t, a)), "dn:"+strings.ToLower(f.svcDN); got != want {
			t.Errorf("search connection bound as %q, want %q", got, want)
		}
		if got, want := whoAmI(t, first), "dn:"+strings.ToLower(bob); got != want {
			t.Errorf("bind connection bound as %q, want the last user %q", got, want)
		}
	})

	t.Run("broken while idle", func(t *testing.T) {
		a := f.newAuth(t, f.config())
		mustLogin(t, a, "alice", "pw-alice", alice)
		old := idleBinds(a)[0]
		old.raw.Close()
		mustLogin(t, a, "alice", "pw-alice", alice)
		if got := idleBinds(a); len(got) != 1 || got[0] == old {
			t.Error("the closed bind connection is still pooled")
		}
	})

	t.Run("bounded under load", func(t *testing.T) {
		cfg := f.config()
		cfg.PoolSize = 2
		a := f.newAuth(t, cfg)
		var wg sync.WaitGroup
		errs := make(chan string, 32)
		for i := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				user, pw := "alice", "pw-alice"
				if i%2 == 1 {
					user, pw = "bob", "pw-bob"
				}
				if i%5 == 0 {
					pw = "wrong"
				}
				_, ok, err := a.Authenticate(t.Context(), user, pw)
				if err != nil || ok != (pw != "wrong") {
					errs <- user + ": " + errString(err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		if n := len(idleBinds(a)); n < 1 || n > 2 {
			t.Errorf("%d idle bind connections, want 1..2", n)
		}
	})

	t.Run("closed", func(t *testing.T) {
		a := f.newAuth(t, f.config())
		mustLogin(t, a, "alice", "pw-alice", alice)
		c := idleBinds(a)[0]
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if !c.l.IsClosing() {
			t.Error("Close left a bind connection open")
		}
		if _, _, err := a.Authenticate(t.Context(), "alice", "pw-alice"); err == nil {
			t.Error("a login after Close succeeded")
		}
	})
}
