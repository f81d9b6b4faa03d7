package ldapauth

import (
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// idleConns returns the pool's idle connections.
func idleConns(a *Authenticator) []*conn {
	a.pool.mu.Lock()
	defer a.pool.mu.Unlock()
	return append([]*conn(nil), a.pool.idle...)
}

// onlyIdle returns the single idle connection.
func onlyIdle(t *testing.T, a *Authenticator) *conn {
	t.Helper()
	idle := idleConns(a)
	if len(idle) != 1 {
		t.Fatalf("%d idle connections, want 1", len(idle))
	}
	return idle[0]
}

// fakePeer replaces c's LDAP connection with one to a peer that reads the
// request and then behaves as told, to break a pooled connection in a way
// go-ldap cannot notice before it is used.
func fakePeer(t *testing.T, c *conn, afterRequest func(net.Conn)) {
	t.Helper()
	client, peer := net.Pipe()
	go func() {
		buf := make([]byte, 1)
		if _, err := peer.Read(buf); err != nil { // the request arrives
			return
		}
		afterRequest(peer)
	}()
	t.Cleanup(func() { peer.Close() })
	c.l.Close()
	c.l = ldap.NewConn(client, false)
	c.l.Start()
	c.raw = client
}

func TestPool(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	alice := f.user(t, "Alice", "alice", "", "pw-alice", nil)

	t.Run("reused", func(t *testing.T) {
		a := f.newAuth(t, f.config())
		mustLogin(t, a, "alice", "pw-alice", alice)
		first := onlyIdle(t, a)
		mustRefuse(t, a, "alice", "wrong")
		mustLogin(t, a, "alice", "pw-alice", alice)
		if onlyIdle(t, a) != first {
			t.Error("the pooled connection was not reused")
		}
	})

	t.Run("socket closed while idle", func(t *testing.T) {
		a := f.newAuth(t, f.config())
		mustLogin(t, a, "alice", "pw-alice", alice)
		old := onlyIdle(t, a)
		old.raw.Close()
		mustLogin(t, a, "alice", "pw-alice", alice)
		if onlyIdle(t, a) == old {
			t.Error("the closed connection is still pooled")
		}
	})

	breakages := []struct {
		name string
		peer func(net.Conn)
	}{
		{"peer closes after the request", func(p net.Conn) { p.Close() }},
		{"peer swallows the request", func(p net.Conn) { _, _ = io.Copy(io.Discard, p) }},
	}
	for _, b := range breakages {
		t.Run(b.name, func(t *testing.T) {
			cfg := f.config()
			cfg.RequestTimeout = 300 * time.Millisecond
			a := f.newAuth(t, cfg)
			mustLogin(t, a, "alice", "pw-alice", alice)
			old := onlyIdle(t, a)
			fakePeer(t, old, b.peer)
			if old.l.IsClosing() {
				t.Fatal("precondition: the broken connection must look alive")
			}
			mustLogin(t, a, "alice", "pw-alice", alice)
			if onlyIdle(t, a) == old {
				t.Error("the broken connection is still pooled")
			}
			if !strings.Contains(f.log.String(), `"event":"ldap_conn_broken"`) {
				t.Error("the retry was not logged")
			}
		})
	}

	t.Run("aged out", func(t *testing.T) {
		var now atomic.Int64
		now.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
		clock := func() time.Time { return time.Unix(0, now.Load()) }
		a := f.newAuth(t, f.config(), WithClock(clock))
		mustLogin(t, a, "alice", "pw-alice", alice)
		old := onlyIdle(t, a)
		now.Add(int64(maxConnAge + time.Second))
		mustLogin(t, a, "alice", "pw-alice", alice)
		if onlyIdle(t, a) == old {
			t.Error("a connection older than maxConnAge was reused")
		}
	})

	t.Run("bounded under load", func(t *testing.T) {
		cfg := f.config()
		cfg.PoolSize = 2
		a := f.newAuth(t, cfg)
		var wg sync.WaitGroup
		errs := make(chan string, 16)
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pw := "pw-alice"
				if i%4 == 0 {
					pw = "wrong"
				}
				_, ok, err := a.Authenticate(t.Context(), "alice", pw)
				if err != nil || ok != (pw == "pw-alice") {
					errs <- pw + ": " + errString(err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		if n := len(idleConns(a)); n < 1 || n > 2 {
			t.Errorf("%d idle connections, want 1..2", n)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
