package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/memory"
)

// ctxLoggingAuth logs the way the directory connector does: with the
// request's context and no request ID of its own.
type ctxLoggingAuth struct {
	fakeAuth
	log *slog.Logger
}

func (a *ctxLoggingAuth) Authenticate(ctx context.Context, u, p string) (idp.Identity, bool, error) {
	a.log.WarnContext(ctx, "ldap server failed", "server", "ldap://dc1")
	return a.fakeAuth.Authenticate(ctx, u, p)
}

type lineBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lineBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lineBuffer) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() == 0 {
		return nil
	}
	return strings.Split(strings.TrimSpace(l.b.String()), "\n")
}

// TestEveryLogLineOfARequestHasItsID: the server's own lines and the
// directory's context-only lines of one login all carry the reference ID
// shown to the employee (X-Request-Id).
func TestEveryLogLineOfARequestHasItsID(t *testing.T) {
	var buf lineBuffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil)))
	auth := &ctxLoggingAuth{fakeAuth: fakeAuth{users: map[string]string{"alice": "alice-pw"}}, log: log}
	st := store.New(memory.New())
	t.Cleanup(func() { st.Close() })
	srv := httptest.NewUnstartedServer(nil)
	t.Cleanup(srv.Close)
	s, err := New(Options{Config: Config{PublicURL: "http://" + srv.Listener.Addr().String()}, Store: st, Authenticator: auth, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = s.Handler()
	srv.Start()
	c := browser(t)
	for _, pw := range []string{"wrong", "alice-pw"} {
		_, page := get(t, c, srv.URL+"/login")
		before := len(buf.lines())
		resp, _ := submitLogin(t, c, srv.URL, page, "alice", pw)
		rid := resp.Header.Get("X-Request-Id")
		lines := buf.lines()[before:]
		if len(lines) < 2 {
			t.Fatalf("password %q: %d log lines, want the directory's and the server's: %q", pw, len(lines), lines)
		}
		for _, l := range lines {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatal(err)
			}
			if m["request_id"] != rid {
				t.Errorf("log line without the request's ID %q: %s", rid, l)
			}
			if strings.Count(l, `"request_id"`) != 1 {
				t.Errorf("request_id twice: %s", l)
			}
		}
	}
	if resp, _ := get(t, c, srv.URL+"/healthz"); resp.StatusCode != http.StatusOK {
		t.Fatal("healthz")
	}
}
