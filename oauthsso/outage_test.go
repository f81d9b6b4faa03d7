package oauthsso

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
)

// Store failures as the backends report them: an outage wraps
// idp.ErrStoreUnavailable (redisstore and boltstore do), a corrupt record
// does not. Their text must never reach an answer.
var (
	errOutage  = fmt.Errorf("redisstore: get: %w: dial tcp 10.9.8.7:6379: connect: connection refused", idp.ErrStoreUnavailable)
	errCorrupt = fmt.Errorf("%w: code record: record ends inside a field", store.ErrCorrupt)
	internals  = []string{"redisstore", "10.9.8.7", "connection refused", "corrupt", "inside a field", "idp:"}
)

// faultyStore is the memory store with chosen methods failing. faults is
// set before a request and only read while it runs.
type faultyStore struct {
	idp.Store
	faults map[string]error // by method name
}

// fault returns the chosen failure of method, else call's result.
func fault[T any](s *faultyStore, method string, call func() (T, error)) (T, error) {
	if err := s.faults[method]; err != nil {
		var zero T
		return zero, err
	}
	return call()
}

func (s *faultyStore) GetCode(ctx context.Context, id string) (idp.Code, error) {
	return fault(s, "GetCode", func() (idp.Code, error) { return s.Store.GetCode(ctx, id) })
}

func (s *faultyStore) TakeCode(ctx context.Context, id string) (idp.Code, error) {
	return fault(s, "TakeCode", func() (idp.Code, error) { return s.Store.TakeCode(ctx, id) })
}

func (s *faultyStore) GetSession(ctx context.Context, id string) (idp.Session, error) {
	return fault(s, "GetSession", func() (idp.Session, error) { return s.Store.GetSession(ctx, id) })
}

func (s *faultyStore) GetToken(ctx context.Context, id string) (idp.Token, error) {
	return fault(s, "GetToken", func() (idp.Token, error) { return s.Store.GetToken(ctx, id) })
}

func (s *faultyStore) PutCode(ctx context.Context, c idp.Code) error {
	if err := s.faults["PutCode"]; err != nil {
		return err
	}
	return s.Store.PutCode(ctx, c)
}

func (s *faultyStore) PutToken(ctx context.Context, t idp.Token) error {
	if err := s.faults["PutToken"]; err != nil {
		return err
	}
	return s.Store.PutToken(ctx, t)
}

// faultyCounter is an idp.Counter that always fails, for the StoreLimiter.
type faultyCounter struct{ err error }

func (f faultyCounter) Incr(context.Context, string, string, time.Time) (int64, error) {
	return 0, f.err
}
func (f faultyCounter) Count(context.Context, string, string) (int64, error) { return 0, f.err }

// breakStore makes the env's store fail as faults say (nil: heal it) and,
// when counterErr is set, installs a StoreLimiter on a failing counter.
func (e *env) breakStore(faults map[string]error, counterErr error) {
	e.t.Helper()
	fs, ok := e.st.Store.(*faultyStore)
	if !ok {
		fs = &faultyStore{Store: e.st.Store}
		e.st.Store = fs
	}
	fs.faults = faults
	e.p.limiter = nil
	if counterErr != nil {
		e.p.limiter = NewStoreLimiter(faultyCounter{counterErr}, e.clk.Now)
	}
}

// wantFailure checks a store-failure answer of the token or userinfo API:
// 503 temporarily_unavailable with Retry-After for an outage, 500
// server_error without it otherwise, and no internal text.
func wantFailure(t *testing.T, a apiAnswer, outage bool) {
	t.Helper()
	status, code, retry := http.StatusInternalServerError, "server_error", ""
	if outage {
		status, code, retry = http.StatusServiceUnavailable, "temporarily_unavailable", "5"
	}
	if a.status != status || a.body["error"] != code {
		t.Errorf("got %d %v, want %d error=%s", a.status, a.body, status, code)
	}
	if got := a.hdr.Get("Retry-After"); got != retry {
		t.Errorf("Retry-After %q, want %q", got, retry)
	}
	if a.hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("no Cache-Control: no-store: %v", a.hdr)
	}
	if d, _ := a.body["error_description"].(string); d == "" {
		t.Errorf("no error_description: %v", a.body)
	}
	for k, v := range a.body {
		if k != "error" && k != "error_description" {
			t.Errorf("unexpected field %s=%v", k, v)
		}
		for _, s := range internals {
			if strings.Contains(fmt.Sprint(v), s) {
				t.Errorf("answer leaks %q: %v", s, a.body)
			}
		}
	}
}

// TestTokenStoreOutage: every store call of the token API that fails with
// an outage gives 503, one that fails otherwise 500; none of them spends
// the code, so the same call succeeds once the store is back.
func TestTokenStoreOutage(t *testing.T) {
	for _, tc := range []struct {
		name       string
		faults     map[string]error
		counterErr error
		outage     bool
	}{
		{"code read and take", map[string]error{"GetCode": errOutage, "TakeCode": errOutage}, nil, true},
		{"code take", map[string]error{"TakeCode": errOutage}, nil, true},
		{"session read", map[string]error{"GetSession": errOutage}, nil, true},
		{"token read", map[string]error{"GetToken": errOutage}, nil, true},
		{"corrupt token", map[string]error{"GetToken": errCorrupt}, nil, false},
		{"failure limiter", nil, errOutage, true},
		{"corrupt code", map[string]error{"GetCode": errCorrupt, "TakeCode": errCorrupt}, nil, false},
		{"corrupt session", map[string]error{"GetSession": errCorrupt}, nil, false},
		{"limiter bug", nil, errors.New("limiter: broken"), false},
	} {
		for _, cl := range []struct{ id, secret, callback string }{{wpID, wpSecret, wpCallback}, {nwID, nwSecret, nwCallback}} {
			t.Run(tc.name+"/"+cl.id, func(t *testing.T) {
				e := newEnv(t)
				e.login("alice")
				code := e.code(cl.id, cl.callback, "s")
				e.breakStore(tc.faults, tc.counterErr)
				wantFailure(t, decode(t, e.post(PathToken, tokenForm(cl.id, cl.secret, code))), tc.outage)

				e.breakStore(nil, nil)
				rec := e.post(PathToken, tokenForm(cl.id, cl.secret, code))
				if rec.Code != http.StatusOK {
					t.Errorf("retry after the store healed: %d %s; want success (the code is unspent)", rec.Code, rec.Body)
				}
			})
		}
	}
}

// TestUserinfoStoreOutage: the same for the userinfo API. A token whose
// session lacks the userinfo attribute is not an outage: 500.
func TestUserinfoStoreOutage(t *testing.T) {
	for _, tc := range []struct {
		name       string
		faults     map[string]error
		counterErr error
		outage     bool
	}{
		{"token read", map[string]error{"GetToken": errOutage}, nil, true},
		{"session read", map[string]error{"GetSession": errOutage}, nil, true},
		{"failure limiter", nil, errOutage, true},
		{"corrupt token", map[string]error{"GetToken": errCorrupt}, nil, false},
		{"corrupt session", map[string]error{"GetSession": errCorrupt}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.login("alice")
			tok := e.issue(wpID, wpSecret, wpCallback)
			e.breakStore(tc.faults, tc.counterErr)
			wantFailure(t, decode(t, e.post(PathUserinfo, userinfoForm(wpID, wpSecret, tok))), tc.outage)

			e.breakStore(nil, nil)
			if rec := e.post(PathUserinfo, userinfoForm(wpID, wpSecret, tok)); rec.Code != http.StatusOK {
				t.Errorf("userinfo after the store healed: %d %s", rec.Code, rec.Body)
			}
		})
	}
}

// TestAuthorizeStoreOutage: a code that cannot be stored after a valid
// request goes back to the SP as an RFC 6749 §4.1.2.1 error with the state:
// temporarily_unavailable for an outage, server_error otherwise. (A Flow
// that cannot be parked is the server's 503 page: see
// TestRedisOutageAnswers.)
func TestAuthorizeStoreOutage(t *testing.T) {
	for _, tc := range []struct {
		name, client, callback, state string
		call                          string // the failing store call
		err                           error
		want                          string
	}{
		{"outage workplace", wpID, wpCallback, "st-1", "PutCode", errOutage, "temporarily_unavailable"},
		{"outage naverworks", nwID, nwCallback, "", "PutCode", errOutage, "temporarily_unavailable"},
		{"corrupt", wpID, wpCallback, "st-1", "PutCode", errCorrupt, "server_error"},
		// The token is stored with the code (issue).
		{"token outage", wpID, wpCallback, "st-1", "PutToken", errOutage, "temporarily_unavailable"},
		{"token failure", nwID, nwCallback, "", "PutToken", errCorrupt, "server_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.login("alice")
			e.breakStore(map[string]error{tc.call: tc.err}, nil)
			rec := e.get(authorizeURL(tc.client, tc.callback, tc.state))
			loc := rec.Header().Get("Location")
			if rec.Code != http.StatusSeeOther || !strings.HasPrefix(loc, tc.callback) {
				t.Fatalf("got %d %q, want an error redirect to %s", rec.Code, loc, tc.callback)
			}
			// The callback's own query (NAVER WORKS's state) is kept.
			u, err := url.Parse(loc)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			if q.Get("error") != tc.want || q.Get("error_description") == "" || q.Has("code") {
				t.Errorf("redirect query %v, want error=%s", q, tc.want)
			}
			if tc.state != "" && q.Get("state") != tc.state {
				t.Errorf("state %q, want %q", q.Get("state"), tc.state)
			}
			for _, s := range internals {
				if strings.Contains(loc, url.QueryEscape(s)) || strings.Contains(loc, s) {
					t.Errorf("redirect leaks %q: %s", s, loc)
				}
			}
		})
	}
}
