package ldapauth

import (
	"sync"
	"testing"
	"time"
)

type recordingObserver struct {
	mu        sync.Mutex
	requests  map[string]int // server + " " + result
	failovers []string
}

func (o *recordingObserver) LDAPRequest(server string, _ time.Duration, result string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests[server+" "+result]++
}

func (o *recordingObserver) LDAPFailover(from, to string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failovers = append(o.failovers, from+" -> "+to)
}

// TestObserver: every operation on the real slapd is reported with its
// server and result (a wrong password is the server's answer, not a
// network error), and the dead first server's failover is counted.
func TestObserver(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	alice := f.user(t, "Alice", "alice", "", "pw-alice", nil)
	dead := "ldap://" + closedPort(t)
	cfg := f.config()
	cfg.URLs = []string{dead, f.srv.URL}
	a := f.newAuth(t, cfg)
	obs := &recordingObserver{requests: map[string]int{}}
	a.SetObserver(obs)
	mustLogin(t, a, "alice", "pw-alice", alice)
	mustRefuse(t, a, "alice", "wrong")

	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.requests[f.srv.URL+" ok"] < 3 { // StartTLS, service bind, search, user bind
		t.Errorf("successful operations on %s: %v", f.srv.URL, obs.requests)
	}
	if obs.requests[f.srv.URL+" ldap_error"] != 1 {
		t.Errorf("the wrong password's bind: %v, want one ldap_error", obs.requests)
	}
	if obs.requests[f.srv.URL+" network_error"] != 0 || obs.requests[dead+" ok"] != 0 {
		t.Errorf("unexpected results: %v", obs.requests)
	}
	if len(obs.failovers) == 0 || obs.failovers[0] != dead+" -> "+f.srv.URL {
		t.Errorf("failovers %v, want %s -> %s first", obs.failovers, dead, f.srv.URL)
	}
}
