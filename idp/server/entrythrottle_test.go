package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/memory"
	"github.com/ncp-sso/idp/idp/throttle"
)

// entryAuth is a directory in which several names lead to one entry, and
// which (like ldapauth with SetEntryThrottle) reserves each bind with a
// real entry throttle after the lookup.
type entryAuth struct {
	names    map[string]string // typed name -> entry
	password map[string]string // entry -> password
	th       idp.EntryThrottle
	binds    atomic.Int32
}

func (a *entryAuth) Authenticate(ctx context.Context, u, p string) (idp.Identity, bool, error) {
	entry, ok := a.names[u]
	if !ok {
		return idp.Identity{}, false, nil
	}
	done, err := a.th.BeginEntry(ctx, entry)
	if err != nil {
		return idp.Identity{}, false, err
	}
	a.binds.Add(1)
	if a.password[entry] != p {
		done(idp.LoginFailed)
		return idp.Identity{}, false, nil
	}
	done(idp.LoginSucceeded)
	return idp.Identity{Subject: entry, Username: entry, Email: entry + "@example.test"}, true, nil
}

// throttleCounter is an Observer that counts Throttled calls by kind.
type throttleCounter struct {
	nopObserver
	mu sync.Mutex
	n  map[string]int
}

func (o *throttleCounter) Throttled(kind string) {
	o.mu.Lock()
	o.n[kind]++
	o.mu.Unlock()
}

func (o *throttleCounter) count(kind string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[kind]
}

// TestEntryThrottledFromAuthenticate: a guesser alternating three names of
// one account passes the typed-name throttle nine times, but only three
// wrong passwords reach the directory; the other attempts get the same
// 429 page, audit reason and metric as a typed-name refusal.
func TestEntryThrottledFromAuthenticate(t *testing.T) {
	b := memory.New()
	st := store.New(b)
	t.Cleanup(func() { st.Close() })
	th, err := throttle.New(b, throttle.Config{MaxFailuresPerAccount: 3, MaxFailuresPerIP: 100, Window: 15 * time.Minute, FamiliarBrowserFailures: new(int)})
	if err != nil {
		t.Fatal(err)
	}
	auth := &entryAuth{
		names:    map[string]string{"alice": "alice", "alice@corp.example": "alice", "alice.kim@example.com": "alice"},
		password: map[string]string{"alice": "alice-pw"},
		th:       th,
	}
	rec, obs := &recorder{}, &throttleCounter{n: map[string]int{}}
	srv := httptest.NewUnstartedServer(nil)
	t.Cleanup(srv.Close)
	s, err := New(Options{
		Config: Config{PublicURL: "http://" + srv.Listener.Addr().String()},
		Store:  st, Authenticator: auth, Throttle: th, Auditor: rec, Observer: obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = s.Handler()
	srv.Start()

	names := []string{"alice", "alice@corp.example", "alice.kim@example.com"}
	c := browser(t)
	statuses := map[int]int{}
	for i := range 9 {
		_, page := get(t, c, srv.URL+"/login", "Accept-Language", "en")
		resp, body := submitLogin(t, c, srv.URL, page, names[i%len(names)], "wrong", "Accept-Language", "en")
		statuses[resp.StatusCode]++
		if resp.StatusCode == http.StatusTooManyRequests {
			if resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "wait 15 minutes") {
				t.Errorf("attempt %d: throttled without the wait time (Retry-After %q)", i+1, resp.Header.Get("Retry-After"))
			}
		}
	}
	if n := auth.binds.Load(); n != 3 {
		t.Errorf("%d wrong passwords reached the directory, want 3", n)
	}
	if statuses[http.StatusUnauthorized] != 3 || statuses[http.StatusTooManyRequests] != 6 {
		t.Errorf("statuses %v, want 3×401 and 6×429", statuses)
	}
	throttled := 0
	for _, e := range rec.events() {
		if e.Reason == idp.ReasonThrottled && e.Result == idp.AuditFailure {
			throttled++
		}
	}
	if throttled != 6 || obs.count("login") != 6 {
		t.Errorf("audit throttled events %d, login throttle metric %d, want 6 and 6", throttled, obs.count("login"))
	}
	// The right password under a fourth name is not sent either.
	auth.names["ALICE"] = "alice"
	_, page := get(t, c, srv.URL+"/login")
	if resp, _ := submitLogin(t, c, srv.URL, page, "ALICE", "alice-pw"); resp.StatusCode != http.StatusTooManyRequests || auth.binds.Load() != 3 {
		t.Errorf("right password during the window: status %d, binds %d; want 429 and no bind", resp.StatusCode, auth.binds.Load())
	}
}
