package server

import (
	"net/http"
	"runtime"
	"time"

	"github.com/labstack/echo/v4"
)

// BackChannel is implemented by a Protocol whose SP calls some endpoints
// server to server (OAuth's token and userinfo APIs). Those calls do not
// wait behind browsers: see browserGate.
type BackChannel interface {
	// BackChannelPaths returns the route paths the SP's servers call.
	BackChannelPaths() []string
}

// alwaysServed are paths that never wait behind browsers: a load balancer
// that sees its health check time out at the morning peak would take a
// working IdP out of service.
var alwaysServed = []string{"/healthz", "/readyz"}

// browserWaitLimit bounds how long a browser request waits for its turn
// before it is told the service is busy.
const browserWaitLimit = 10 * time.Second

// defaultBrowserConcurrency is server.browser_concurrency's default: enough
// requests in progress per processor to keep it busy while others wait for
// the directory or a store commit, few enough that an SP's token call is
// not queued behind all of them: 8 per Go processor, and 24 on a single
// one. There the processor also idles while a store commit syncs the disk
// (the thread that syncs holds it), and the SP's calls are woken ahead of
// the browsers anyway (spconn_linux.go). Measured with idpbench, OAuth at
// 64 browsers on one core, three interleaved rounds: 1,116-1,222 logins/s
// with 8, 1,152-1,639 with 24, token p99 4.1-4.9 and 5.3-6.9 ms.
func defaultBrowserConcurrency() int {
	if n := runtime.GOMAXPROCS(0); n > 1 {
		return 8 * n
	}
	return 24
}

// browserGate lets at most n browser requests run at once; the rest wait
// in line (first come, first served). Back-channel calls and health checks
// go past the line. When ten thousand employees open WORKPLACE at 08:55,
// the processor is shared by the requests in progress, not by every
// request that arrived: so the SP's token and userinfo calls, which have a
// 1 s connect and 3 s read budget and complete a login that is otherwise
// done, are answered in milliseconds, and the logins still waiting simply
// start a little later. Throughput is the same: the processor is busy
// either way.
type browserGate struct {
	slots chan struct{}
	skip  map[string]bool // route paths that bypass the line
}

// newBrowserGate makes the line for server.browser_concurrency n: 0 is
// the default, a negative n (-1) no line at all.
func newBrowserGate(n int, skip []string) *browserGate {
	switch {
	case n < 0:
		return nil
	case n == 0:
		n = defaultBrowserConcurrency()
	}
	g := &browserGate{slots: make(chan struct{}, n), skip: map[string]bool{}}
	for _, p := range append(skip, alwaysServed...) {
		g.skip[p] = true
	}
	return g
}

// browserTurn admits c in turn. It runs after routing, so c.Path() is the
// route; an unknown path (404) waits like any browser request.
func (s *Server) browserTurn(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.backChannel[c.Path()] {
			markBackChannel(c.Request().Context())
		}
		g := s.gate
		if g == nil || g.skip[c.Path()] {
			return next(c)
		}
		select {
		case g.slots <- struct{}{}:
		default:
			t := time.NewTimer(browserWaitLimit)
			select {
			case g.slots <- struct{}{}:
				t.Stop()
			case <-t.C:
				s.log.Warn("browser_queue_timeout", "request_id", requestID(c), "waited", browserWaitLimit.String())
				return s.ErrorPage(c, http.StatusServiceUnavailable, msgBusy)
			case <-c.Request().Context().Done():
				t.Stop()
				// The browser went away: there is no one to answer.
				return nil
			}
		}
		defer func() { <-g.slots }()
		return next(c)
	}
}
