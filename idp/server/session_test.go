package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/memory"
)

// slowSessions writes sessions slowly, or fails them, to show that the
// answer to the SP never leaves before its session is stored.
type slowSessions struct {
	idp.Store
	fail   bool
	stored atomic.Bool
}

func (s *slowSessions) PutSession(ctx context.Context, sess idp.Session) error {
	time.Sleep(100 * time.Millisecond)
	if s.fail {
		return errors.New("disk full")
	}
	err := s.Store.PutSession(ctx, sess)
	s.stored.Store(err == nil)
	return err
}

// flushingProtocol sends its answer to the network at once (as a large
// SAML auto-POST page would be), unless the server holds it.
type flushingProtocol struct{ testProtocol }

func (p *flushingProtocol) Resume(c echo.Context, f idp.Flow, s idp.Session) error {
	err := p.testProtocol.Resume(c, f, s)
	c.Response().Flush()
	return err
}

func sessionFixture(t *testing.T, st *slowSessions) (*httptest.Server, *flushingProtocol) {
	t.Helper()
	proto := &flushingProtocol{}
	srv := httptest.NewUnstartedServer(nil)
	t.Cleanup(srv.Close)
	s, err := New(Options{
		Config:        Config{PublicURL: "http://" + srv.Listener.Addr().String()},
		Store:         st,
		Authenticator: &fakeAuth{users: map[string]string{"alice": "alice-pw"}},
		Protocols:     []Protocol{proto},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = s.Handler()
	srv.Start()
	return srv, proto
}

func TestAnswerWaitsForTheSession(t *testing.T) {
	st := &slowSessions{Store: store.New(memory.New())}
	t.Cleanup(func() { st.Close() })
	srv, proto := sessionFixture(t, st)
	c := browser(t)
	page := flowPage(t, c, srv.URL+"/test/start?state=s1")
	form := url.Values{"username": {"alice"}, "password": {"alice-pw"}}
	for _, m := range hiddenRe.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], htmlUnescape(m[2]))
	}
	resp, err := c.PostForm(srv.URL+"/login", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// The answer's first bytes are here: the session must be stored by now.
	if !st.stored.Load() {
		t.Fatal("the SP's answer left before the session it names was stored")
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"user":"alice"`) || proto.resumed.Load() != 1 {
		t.Fatalf("login: HTTP %d %s", resp.StatusCode, body)
	}
}

func TestSessionStoreFailureHoldsTheAnswer(t *testing.T) {
	st := &slowSessions{Store: store.New(memory.New()), fail: true}
	t.Cleanup(func() { st.Close() })
	srv, proto := sessionFixture(t, st)
	c := browser(t)
	page := flowPage(t, c, srv.URL+"/test/start?state=s1")
	resp, body := submitLogin(t, c, srv.URL, page, "alice", "alice-pw")
	if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, `"user"`) {
		t.Fatalf("session not stored: HTTP %d, want the 503 page without the SP's answer:\n%s", resp.StatusCode, body)
	}
	if proto.resumed.Load() != 1 {
		t.Fatalf("resumed %d times", proto.resumed.Load())
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "idp_session" && ck.Value != "" {
			t.Errorf("a cookie names the session that was not stored")
		}
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q: the held answer's headers leaked", ct)
	}
}
