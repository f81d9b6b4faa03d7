package main

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp/store/redisstore/redistest"
)

var haReplOffset = regexp.MustCompile(`(?m)^master_repl_offset:(\d+)`)

// replOffset reads master_repl_offset from INFO replication of srv.
func replOffset(t *testing.T, srv *redistest.Server) int64 {
	t.Helper()
	info, err := srv.Client(t).Info(t.Context(), "replication").Result()
	m := haReplOffset.FindStringSubmatch(info)
	if err != nil || m == nil {
		t.Fatalf("INFO replication of %s: %v", srv.Addr, err)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// TestHASentinelFailover runs the real binary on a Sentinel group (one
// master, one replica, three sentinels) and kills the master with SIGKILL
// while journeys run. Journeys during the failover get 503 pages; then the
// same process, not restarted, serves again from the promoted replica.
// Sessions, codes and tokens issued before a point the replica was seen to
// reach are all still there.
func TestHASentinelFailover(t *testing.T) {
	const group = "idp"
	master := redistest.Start(t)
	replica := redistest.StartReplica(t, master)
	var addrs []string
	var sentinels []*redistest.Server
	for range 3 {
		s := redistest.StartSentinel(t, group, master)
		sentinels = append(sentinels, s)
		addrs = append(addrs, fmt.Sprintf("%q", s.Addr))
	}
	for _, s := range sentinels {
		s.WaitSentinelReady(t, group, 1, 2)
	}
	c := startHACluster(t, 1, fmt.Sprintf("  backend: redis\n  redis:\n    sentinel:\n      master_name: %s\n      addrs: [%s]",
		group, strings.Join(addrs, ", ")))
	at := func(int) string { return c.bases[0] }

	// Issued before the checkpoint: a signed-in browser, an unredeemed
	// code and an access token per load account.
	type issued struct {
		j     *journey
		code  string
		token string
	}
	var before []issued
	for i := range 4 {
		j := newJourney(t, at).as(i)
		_, token, err := j.oauth()
		if err != nil {
			t.Fatal(err)
		}
		resp, _, err := j.do(0, "sso visit", http.MethodGet, authorizeURL(wpClientID, wpCallback, "s"), nil, http.StatusSeeOther)
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, issued{j: j, token: token, code: codeOf(t, resp)})
	}
	want := replOffset(t, master)
	deadline := time.Now().Add(5 * time.Second)
	for replOffset(t, replica) < want {
		if time.Now().After(deadline) {
			t.Fatal("the replica did not reach the master's offset")
		}
		time.Sleep(10 * time.Millisecond)
	}

	stop := make(chan struct{})
	var gen atomic.Int64 // odd from the kill until service is back
	results := runLoad(t, stop, 3, func(w, i int) (bool, error) {
		g0 := gen.Load()
		_, _, err := newJourney(t, at).as(4 + w).oauth()
		return g0%2 == 1 || gen.Load() != g0, err
	})
	time.Sleep(300 * time.Millisecond)
	gen.Add(1)
	killed := time.Now()
	if err := master.Kill(); err != nil {
		t.Fatal(err)
	}
	c.waitReady(0, false)
	c.waitReady(0, true) // no restart: the process follows the new master
	back := time.Since(killed)
	gen.Add(1)
	for range 3 {
		if _, _, err := newJourney(t, at).as(7).oauth(); err != nil {
			t.Fatalf("journey after the failover: %v", err)
		}
	}
	close(stop)
	r := <-results
	c.alive(0)
	t.Logf("ready again %v after the kill; journeys: %d ok, %d failed during the failover %v",
		back.Round(time.Millisecond), r.ok, r.failedDuring, r.statusDuring)
	if len(r.unexpected) > 0 || r.cutOff > 0 {
		t.Fatalf("journeys failed outside the failover (%d without answer): %v", r.cutOff, r.unexpected[:min(3, len(r.unexpected))])
	}
	for k := range r.statusDuring {
		switch k {
		case "authorize 503", "login page 503", "login 503", "sp error temporarily_unavailable 303", "token 503", "userinfo 503":
		default:
			t.Errorf("step %q during the failover; want 503 pages, temporarily_unavailable from the APIs and at the SP", k)
		}
	}

	// Nothing issued before the checkpoint was lost.
	for i, is := range before {
		if err := is.j.userinfo(0, is.token); err != nil {
			t.Errorf("account %d: token issued before the failover: %v", i, err)
		}
		if _, _, err := is.j.do(0, "code issued before the failover", http.MethodPost, "/oauth/token",
			tokenForm(wpClientID, wpClientSecret, is.code, ""), http.StatusOK); err != nil {
			t.Errorf("account %d: %v", i, err)
		}
		resp, _, err := is.j.do(0, "sso visit", http.MethodGet, authorizeURL(wpClientID, wpCallback, "s"), nil, http.StatusSeeOther)
		if err != nil || !strings.Contains(resp.Header.Get("Location"), "code=") {
			t.Errorf("account %d: session from before the failover: %v", i, err)
		}
	}
}

// codeOf returns the code of a redirect to the SP.
func codeOf(t *testing.T, resp *http.Response) string {
	t.Helper()
	loc := resp.Header.Get("Location")
	i := strings.Index(loc, "code=")
	if i < 0 {
		t.Fatalf("no code in %q", loc)
	}
	code, _, _ := strings.Cut(loc[i+len("code="):], "&")
	return code
}
