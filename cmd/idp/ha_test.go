package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/ncp-sso/idp/idp/store/redisstore/redistest"
	"github.com/ncp-sso/idp/oauthsso"
)

// TestHATwoInstancesOneRedis runs the real binary twice on different ports
// with one Redis (AOF on, so a restart keeps the state) and one slapd, and
// proves that any instance answers any step: the SP's journeys alternate
// between the instances at every step, single-use things stay single-use
// across them, throttling counts attempts made at both, a Redis restart
// gives 503 and then service, and kill -9 of one instance under load costs
// only the requests it was serving.
func TestHATwoInstancesOneRedis(t *testing.T) {
	rd := redistest.Start(t, redistest.WithConfig("appendonly yes", "appendfsync always"))
	c := startHACluster(t, 2, fmt.Sprintf("  backend: redis\n  redis:\n    addr: %q\n    key_prefix: \"ha:\"", rd.Addr))
	a, b := c.bases[0], c.bases[1]
	at := func(bases ...string) func(int) string {
		return func(n int) string { return bases[n%len(bases)] }
	}

	t.Run("oauth across instances", func(t *testing.T) {
		// Login request at A, login page and password at B, token at A,
		// userinfo at B.
		j := newJourney(t, at(a, b, b, a, b))
		code, token, err := j.oauth()
		if err != nil {
			t.Fatal(err)
		}
		// The code replayed at the other instance is refused, and the
		// token issued from it is revoked for both.
		_, body, err := newJourney(t, at(b)).do(0, "replayed token", http.MethodPost, "/oauth/token",
			tokenForm(wpClientID, wpClientSecret, code, ""), http.StatusBadRequest)
		if err != nil || !strings.Contains(body, "invalid_grant") {
			t.Fatalf("replayed code at B: %v %s", err, body)
		}
		for _, base := range []string{a, b} {
			if err := newJourney(t, at(base)).userinfo(0, token); err == nil {
				t.Fatalf("userinfo at %s with the token of a replayed code succeeded", base)
			}
		}
		// The SSO session made at B answers at A without the form.
		resp, _, err := j.do(0, "sso visit", http.MethodGet, authorizeURL(wpClientID, wpCallback, "again"), nil, http.StatusSeeOther)
		if err != nil || !strings.HasPrefix(resp.Header.Get("Location"), wpCallback) {
			t.Fatalf("SSO visit at A with B's session: %v %v", err, resp.Header.Get("Location"))
		}
	})

	t.Run("saml across instances", func(t *testing.T) {
		id := newRequestID()
		j := newJourney(t, at(a, b, b))
		raw, err := j.saml(id)
		if err != nil {
			t.Fatal(err)
		}
		// A standard SP with A's metadata accepts the Response B signed.
		_, mdBody, err := j.do(0, "metadata", http.MethodGet, "/saml/metadata", nil, http.StatusOK)
		if err != nil {
			t.Fatal(err)
		}
		var md crewjam.EntityDescriptor
		if err := xml.Unmarshal([]byte(mdBody), &md); err != nil {
			t.Fatal(err)
		}
		acsURL, _ := url.Parse(acmeACS)
		sp := crewjam.ServiceProvider{EntityID: "ncpworkplace.com", AcsURL: *acsURL, IDPMetadata: &md}
		asr, err := sp.ParseXMLResponse(raw, []string{id}, *acsURL)
		if err != nil {
			var ie *crewjam.InvalidResponseError
			if asInvalid(err, &ie) {
				err = ie.PrivateErr
			}
			t.Fatalf("SP refused B's Response: %v", err)
		}
		if asr.Subject.NameID.Value != secMail {
			t.Fatalf("NameID %q", asr.Subject.NameID.Value)
		}
		// The same request ID at either instance never yields an assertion,
		// although the browser has a session there.
		for _, base := range []string{a, b} {
			q := url.Values{"SAMLRequest": {workplaceAuthnRequestTB(t, id, acmeACS)}, "RelayState": {"r"}}
			j.route = at(base)
			_, body, _ := j.do(0, "replayed request", http.MethodGet, "/saml/sso?"+q.Encode(), nil, http.StatusOK)
			if raw, err := samlResponseOf(body); err == nil && bytes.Contains(raw, []byte("Assertion")) {
				t.Fatalf("replayed AuthnRequest ID at %s answered with an assertion", base)
			}
		}
	})

	t.Run("throttling counts both instances", func(t *testing.T) {
		// Each instance alone sees fewer failures than the per-IP limit;
		// together they reach it, and the client is refused even with its
		// right secret. A fixed window boundary in between resets the
		// count, so the attempt is repeated in the next window if needed.
		window := int64(oauthsso.DefaultClientFailureWindow)
		for try := 0; ; try++ {
			slot := time.Now().UnixNano() / window
			for i := range oauthsso.DefaultClientFailuresPerIP {
				base := []string{a, b}[i%2]
				resp, body := post(t, nil, base+"/oauth/token", tokenForm(nwClientID, "wrong-secret-000000000", "x", ""), nil)
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("wrong secret #%d at %s: %d %s", i, base, resp.StatusCode, body)
				}
			}
			resp, body := post(t, nil, a+"/oauth/token", tokenForm(nwClientID, nwSecret, "x", ""), nil)
			if time.Now().UnixNano()/window != slot && try == 0 {
				continue
			}
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("after %d failures spread over two instances: %d %s; want 429", oauthsso.DefaultClientFailuresPerIP, resp.StatusCode, body)
			}
			break
		}
	})

	t.Run("login throttling counts both instances", func(t *testing.T) {
		// The account's failures are spread over both instances; together
		// they reach the per-account limit for a browser the account never
		// signed in with (2 of the default 3: one is kept for its own
		// browsers), and then even the right password is refused at
		// either, before the directory.
		j := newJourney(t, at(a))
		j.user = "hanb"
		for i := range 2 {
			j.route = at([]string{a, b}[i%2])
			j.password = "wrong-password"
			form, err := j.loginForm(0, "/login")
			if err != nil {
				t.Fatal(err)
			}
			resp, body, _ := j.do(0, "wrong password", http.MethodPost, "/login", form, http.StatusOK)
			if resp == nil || resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
				t.Fatalf("wrong password #%d: %v %.200s", i, resp.StatusCode, body)
			}
		}
		j.route, j.password = at(b), "Hanb!2345"
		form, err := j.loginForm(0, "/login")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := j.do(0, "right password", http.MethodPost, "/login", form, http.StatusTooManyRequests); err != nil {
			t.Fatalf("after 2 failures over two instances: %v; want 429", err)
		}
	})

	t.Run("redis restart", func(t *testing.T) {
		// A login page shown before the outage, its password posted
		// during it (at the other instance), and again after it.
		j := newJourney(t, at(a, b, b))
		_, loc, err := j.start("authorize", authorizeURL(wpClientID, wpCallback, "st"))
		if err != nil {
			t.Fatal(err)
		}
		form, err := j.loginForm(1, loc)
		if err != nil {
			t.Fatal(err)
		}

		// gen is odd while Redis is down; a journey overlapped the outage
		// when gen was odd or changed while it ran.
		stop := make(chan struct{})
		var gen atomic.Int64
		statuses := runLoad(t, stop, 3, func(w, i int) (bool, error) {
			g0 := gen.Load()
			_, _, err := newJourney(t, at(a, b)).as(w).oauth()
			return g0%2 == 1 || gen.Load() != g0, err
		})
		time.Sleep(300 * time.Millisecond)
		gen.Add(1) // before the stop: Redis closes connections before it exits
		if err := rd.Stop(); err != nil {
			t.Fatal(err)
		}
		c.waitReady(0, false)
		c.waitReady(1, false)
		// The right password during the outage: 503, not "wrong password".
		if _, _, err := j.do(2, "login", http.MethodPost, "/login", form, http.StatusServiceUnavailable); err != nil {
			t.Fatalf("login during the outage: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
		rd.Restart(t)
		c.waitReady(0, true)
		c.waitReady(1, true)
		gen.Add(1)
		// The login page from before the outage still works: its Flow was
		// kept by Redis (AOF) and nothing was half-consumed.
		resp, _, err := j.do(2, "login", http.MethodPost, "/login", form, http.StatusSeeOther)
		if err != nil || !strings.HasPrefix(resp.Header.Get("Location"), wpCallback) {
			t.Fatalf("login after the outage: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
		close(stop)
		r := <-statuses
		c.alive(0)
		c.alive(1)
		t.Logf("journeys: %d ok, %d failed during the outage (HTTP status of the failing step: %v)", r.ok, r.failedDuring, r.statusDuring)
		if len(r.unexpected) > 0 || r.cutOff > 0 {
			t.Fatalf("journeys failed other than with 503 during the outage (%d without answer): %v", r.cutOff, r.unexpected[:min(3, len(r.unexpected))])
		}
		// Pages show the 503 page. A login whose Flow was taken just before
		// the store failed goes back to the SP with
		// error=temporarily_unavailable. The token and userinfo APIs (called
		// by the SP's server, not the employee) answer oauthsso's JSON
		// temporarily_unavailable, status 503.
		for k := range r.statusDuring {
			switch k {
			case "authorize 503", "login page 503", "login 503", "sp error temporarily_unavailable 303", "token 503", "userinfo 503":
			default:
				t.Errorf("step %q during the outage; want 503 pages, temporarily_unavailable from the APIs and at the SP", k)
			}
		}
		for range 5 {
			if _, _, err := newJourney(t, at(b, a)).as(7).oauth(); err != nil {
				t.Fatalf("journey after Redis returned: %v", err)
			}
		}
	})

	t.Run("kill -9 of one instance under load", func(t *testing.T) {
		var aDead atomic.Bool
		route := func(w int) func(int) string {
			return func(n int) string {
				if aDead.Load() {
					return b // the balancer's health check took A out
				}
				return []string{a, b}[(n+w)%2]
			}
		}
		stop := make(chan struct{})
		var afterKill atomic.Int64
		results := runLoad(t, stop, 4, func(w, i int) (bool, error) {
			dead := aDead.Load()
			var err error
			if i%2 == 0 {
				_, _, err = newJourney(t, route(w)).as(3 + w).oauth()
			} else {
				_, err = newJourney(t, route(w)).as(3 + w).saml(newRequestID())
			}
			if err == nil && dead {
				afterKill.Add(1)
			}
			return false, err
		})
		time.Sleep(500 * time.Millisecond)
		if err := c.procs[0].cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-c.procs[0].done
		aDead.Store(true)
		time.Sleep(time.Second)
		close(stop)
		r := <-results
		t.Logf("journeys: %d completed (%d entirely after the kill), %d lost a request in flight at A", r.ok, afterKill.Load(), r.cutOff)
		if len(r.unexpected) > 0 {
			t.Fatalf("%d journeys failed at B: %v", len(r.unexpected), r.unexpected[:min(3, len(r.unexpected))])
		}
		if afterKill.Load() == 0 {
			t.Fatal("no journey completed at B after A was killed")
		}
		c.alive(1)
	})
}

// loadResult sums up runLoad.
type loadResult struct {
	ok           int
	cutOff       int // a request never got an answer (its instance died)
	failedDuring int
	statusDuring map[string]int // "step status" of the failing step
	unexpected   []error
}

// runLoad runs journey(worker, i) from workers goroutines until stop is
// closed. journey reports whether it ran during an outage; errors then are
// counted by the status of the failing step, errors otherwise are
// unexpected, except requests that got no answer.
func runLoad(t *testing.T, stop chan struct{}, workers int, journey func(w, i int) (bool, error)) <-chan loadResult {
	out := make(chan loadResult, 1)
	var (
		mu sync.Mutex
		r  = loadResult{statusDuring: map[string]int{}}
		wg sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				during, err := journey(w, i)
				mu.Lock()
				var se *stepError
				switch {
				case err == nil:
					r.ok++
				case transport(err):
					r.cutOff++
				case during && errors.As(err, &se):
					r.failedDuring++
					r.statusDuring[fmt.Sprintf("%s %d", se.step, se.status)]++
				default:
					r.unexpected = append(r.unexpected, err)
				}
				mu.Unlock()
			}
		}()
	}
	go func() {
		wg.Wait()
		out <- r
	}()
	return out
}
