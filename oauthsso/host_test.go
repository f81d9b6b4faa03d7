package oauthsso

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/server"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/memory"
)

const (
	wpID       = "wp-client"
	wpSecret   = "wp-secret-0123456789abcdef"
	nwID       = "nw-client"
	nwSecret   = "nw-secret-0123456789abcdef"
	wpCallback = "https://acme.ncpworkplace.com/oauth/callback"
	nwCallback = "https://auth.worksmobile.com/oauth/sso/callback?domain=acme.example&state=works-state%2B1"
	publicURL  = "https://sso.acme.example"
)

// clock is a settable clock shared by the fake host and the memory store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// countingStore is the real memory store with write counters, to assert
// "exactly one token" and "no write on userinfo".
type countingStore struct {
	idp.Store
	writes    atomic.Int32
	putTokens atomic.Int32
}

func (s *countingStore) PutToken(ctx context.Context, t idp.Token) error {
	s.writes.Add(1)
	s.putTokens.Add(1)
	return s.Store.PutToken(ctx, t)
}
func (s *countingStore) RevokeToken(ctx context.Context, id string) error {
	s.writes.Add(1)
	return s.Store.RevokeToken(ctx, id)
}
func (s *countingStore) PutCode(ctx context.Context, c idp.Code) error {
	s.writes.Add(1)
	return s.Store.PutCode(ctx, c)
}
func (s *countingStore) TakeCode(ctx context.Context, id string) (idp.Code, error) {
	s.writes.Add(1)
	return s.Store.TakeCode(ctx, id)
}
func (s *countingStore) FirstUse(ctx context.Context, ns, id string, exp time.Time) (bool, error) {
	s.writes.Add(1)
	return s.Store.FirstUse(ctx, ns, id, exp)
}
func (s *countingStore) PutSession(ctx context.Context, sess idp.Session) error {
	s.writes.Add(1)
	return s.Store.PutSession(ctx, sess)
}
func (s *countingStore) DeleteSession(ctx context.Context, id string) error {
	s.writes.Add(1)
	return s.Store.DeleteSession(ctx, id)
}
func (s *countingStore) PutFlow(ctx context.Context, f idp.Flow) error {
	s.writes.Add(1)
	return s.Store.PutFlow(ctx, f)
}

// fakeHost plays the server: BeginFlow resumes at once when a session is
// live, else parks the Flow and answers 200 "login"; pages are plain text
// naming the page or message key.
type fakeHost struct {
	p     *Provider
	st    *countingStore
	clk   *clock
	log   *slog.Logger
	mu    sync.Mutex
	sess  *idp.Session
	flows []idp.Flow
}

var _ server.Host = (*fakeHost)(nil)

func (h *fakeHost) BeginFlow(c echo.Context, f idp.Flow) error {
	if f.ID == "" {
		f.ID = idp.NewID(nil)
	}
	h.mu.Lock()
	h.flows = append(h.flows, f)
	h.mu.Unlock()
	if sess, ok := h.Session(c); ok {
		return h.p.Resume(c, f, sess)
	}
	if err := h.st.PutFlow(c.Request().Context(), f); err != nil {
		return err
	}
	return c.String(http.StatusOK, "login")
}

func (h *fakeHost) Session(c echo.Context) (idp.Session, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sess == nil {
		return idp.Session{}, false
	}
	return *h.sess, true
}

func (h *fakeHost) EndSession(c echo.Context) (idp.Session, bool) {
	h.mu.Lock()
	s := h.sess
	h.sess = nil
	h.mu.Unlock()
	if s == nil {
		return idp.Session{}, false
	}
	_ = h.st.DeleteSession(c.Request().Context(), s.ID)
	return *s, true
}

func (h *fakeHost) ErrorPage(c echo.Context, status int, key string) error {
	return c.String(status, "error:"+key)
}

func (h *fakeHost) Render(c echo.Context, status int, name string, _ any) error {
	return c.String(status, "page:"+name)
}

func (h *fakeHost) Store() idp.Store     { return h.st }
func (h *fakeHost) Now() time.Time       { return h.clk.Now() }
func (h *fakeHost) Rand() io.Reader      { return nil }
func (h *fakeHost) Logger() *slog.Logger { return h.log }
func (h *fakeHost) PublicURL() string    { return publicURL }

func sha256Hex(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

func testConfig() Config {
	cfg := Config{Clients: []Client{
		{Name: "workplace", ClientID: wpID, ClientSecret: wpSecret, Profile: ProfileWorkplace, Company: "acme"},
		{Name: "works", ClientID: nwID, ClientSecretHash: "sha256:" + sha256Hex(nwSecret), Profile: ProfileNaverWorks, Domain: "acme.example"},
	}}
	cfg.SetDefaults()
	return cfg
}

type env struct {
	t    testing.TB
	p    *Provider
	h    *fakeHost
	e    *echo.Echo
	st   *countingStore
	clk  *clock
	logs *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for the concurrent handlers' logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newEnv(t testing.TB, mutate ...func(*Config)) *env {
	t.Helper()
	cfg := testConfig()
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
	st := &countingStore{Store: store.New(memory.New(memory.WithClock(clk.Now), memory.WithSweepInterval(0)))}
	t.Cleanup(func() { st.Close() })
	logs := &syncBuffer{}
	h := &fakeHost{p: p, st: st, clk: clk, log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	e := echo.New()
	p.Register(e, h)
	return &env{t: t, p: p, h: h, e: e, st: st, clk: clk, logs: logs}
}

func (e *env) serve(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.e.ServeHTTP(rec, req)
	return rec
}

func (e *env) get(target string) *httptest.ResponseRecorder {
	return e.serve(httptest.NewRequest(http.MethodGet, target, nil))
}

func formRequest(path string, form url.Values) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

func (e *env) post(path string, form url.Values) *httptest.ResponseRecorder {
	return e.serve(formRequest(path, form))
}

// login gives the browser a live SSO session for a user with a mail value.
func (e *env) login(user string) idp.Session {
	e.t.Helper()
	now := e.clk.Now()
	s := idp.Session{
		ID:        idp.NewID(nil),
		Identity:  idp.Identity{Subject: "sub-" + user, Username: user, Email: user + "@acme.example", Attributes: map[string][]string{"employeeNumber": {"E-" + user}}},
		AuthTime:  now,
		ExpiresAt: now.Add(8 * time.Hour),
	}
	if err := e.st.PutSession(context.Background(), s); err != nil {
		e.t.Fatal(err)
	}
	e.h.mu.Lock()
	e.h.sess = &s
	e.h.mu.Unlock()
	return s
}

func authorizeURL(clientID, redirectURI, state string, extra ...string) string {
	v := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirectURI}}
	if state != "" {
		v.Set("state", state)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Add(extra[i], extra[i+1])
	}
	return PathAuthorize + "?" + v.Encode()
}

// code runs an authorize request with a live session and returns the code.
func (e *env) code(clientID, redirectURI, state string) string {
	e.t.Helper()
	rec := e.get(authorizeURL(clientID, redirectURI, state))
	if rec.Code != http.StatusSeeOther {
		e.t.Fatalf("authorize: status %d body %q", rec.Code, rec.Body.String())
	}
	u, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	c := u.Query().Get("code")
	if c == "" {
		e.t.Fatalf("authorize: no code in %q", u)
	}
	return c
}

// tokenIDOf is the ID of the access token stored with an unspent code.
func (e *env) tokenIDOf(code string) string {
	e.t.Helper()
	c, err := e.st.Store.GetCode(context.Background(), code)
	if err != nil {
		e.t.Fatalf("code: %v", err)
	}
	return c.TokenID
}

// tokenStored reports whether the access token id is still in the store.
func (e *env) tokenStored(id string) bool {
	e.t.Helper()
	_, err := e.st.Store.GetToken(context.Background(), id)
	if err != nil && !errors.Is(err, idp.ErrNotFound) {
		e.t.Fatalf("token: %v", err)
	}
	return err == nil
}

func tokenForm(clientID, secret, code string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "client_id": {clientID}, "client_secret": {secret}, "code": {code}}
}

func userinfoForm(clientID, secret, token string) url.Values {
	return url.Values{"client_id": {clientID}, "client_secret": {secret}, "access_token": {token}}
}
