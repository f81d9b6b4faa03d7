package server

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/memory"
)

// gateProtocol has one browser endpoint that holds its request until told
// to let go, and one back-channel endpoint.
type gateProtocol struct {
	testProtocol
	entered, release chan struct{}
}

func (p *gateProtocol) Register(e *echo.Echo, h Host) {
	e.GET("/test/hold", func(c echo.Context) error {
		p.entered <- struct{}{}
		<-p.release
		return c.String(http.StatusOK, "held")
	})
	e.POST("/test/backchannel", func(c echo.Context) error { return c.String(http.StatusOK, "served") })
}

func (p *gateProtocol) BackChannelPaths() []string { return []string{"/test/backchannel"} }

// With every browser slot taken, the SP's back-channel calls and the
// health checks are still served, and a browser request waits for a slot
// instead of running beside the others.
func TestBrowserLineLetsBackChannelPass(t *testing.T) {
	p := &gateProtocol{entered: make(chan struct{}, 1), release: make(chan struct{})}
	st := store.New(memory.New())
	t.Cleanup(func() { st.Close() })
	srv := httptest.NewUnstartedServer(nil)
	t.Cleanup(srv.Close)
	s, err := New(Options{
		Config:        Config{PublicURL: "http://" + srv.Listener.Addr().String(), BrowserConcurrency: 1},
		Store:         st,
		Authenticator: &fakeAuth{users: map[string]string{}},
		Protocols:     []Protocol{p},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = s.Handler()
	srv.Start()
	var once sync.Once
	letGo := func() { once.Do(func() { close(p.release) }) }
	t.Cleanup(letGo) // before srv.Close, which waits for the held request
	hc := &http.Client{Timeout: 20 * time.Second}
	status := func(method, path string) int {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Errorf("%s %s: %v", method, path, err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	held := make(chan int, 1)
	go func() { held <- status(http.MethodGet, "/test/hold") }()
	<-p.entered // the one browser slot is taken

	for _, r := range []struct{ method, path string }{{http.MethodPost, "/test/backchannel"}, {http.MethodGet, "/healthz"}} {
		if got := status(r.method, r.path); got != http.StatusOK {
			t.Errorf("%s %s with the browser line full: HTTP %d, want 200", r.method, r.path, got)
		}
	}

	waiting := make(chan int, 1)
	go func() { waiting <- status(http.MethodGet, "/login") }()
	select {
	case got := <-waiting:
		t.Fatalf("a browser request ran beside the one holding the only slot (HTTP %d)", got)
	case <-time.After(200 * time.Millisecond):
	}
	letGo()
	if got := <-held; got != http.StatusOK {
		t.Errorf("held request: HTTP %d", got)
	}
	if got := <-waiting; got != http.StatusOK {
		t.Errorf("the waiting browser request, once its turn came: HTTP %d, want 200", got)
	}
}

func TestBrowserConcurrencyConfig(t *testing.T) {
	for _, tc := range []struct {
		n  int
		ok bool
	}{{0, true}, {-1, true}, {64, true}, {-2, false}, {100001, false}} {
		c := Config{PublicURL: "https://sso.example.com", BrowserConcurrency: tc.n}
		c.SetDefaults()
		ps := c.Validate()
		if got := !hasKey(ps, "browser_concurrency"); got != tc.ok {
			t.Errorf("browser_concurrency %d: valid %v, want %v (%v)", tc.n, got, tc.ok, ps)
		}
	}
	if g := newBrowserGate(-1, nil); g != nil {
		t.Error("-1 still builds a line")
	}
}

func hasKey(ps idp.Problems, key string) bool {
	for _, p := range ps {
		if p.Key == key {
			return true
		}
	}
	return false
}
