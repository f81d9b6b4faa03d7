package server

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/idp"
)

// FlowLimits caps how many pending login requests (Flows) can be parked, so
// that flooding the login URLs with valid-looking SP requests cannot fill
// the store. A Flow is pending from BeginFlow until the login that takes it;
// one that is never taken stays counted until its window has passed (two
// windows at most), so the store holds at most Global pending Flows plus
// the abandoned ones of the last two windows. Completed logins do not
// count: an IdP doing a thousand logins a second for hours is not a flood.
// Zero fields take the defaults.
type FlowLimits struct {
	// PerIP is how many Flows one client address may start per PerIPWindow.
	// Default 300 (per minute): a company NAT at its morning peak stays
	// well under it. Loopback peers are not limited per IP (they are a local
	// reverse proxy not listed in server.trusted_proxies, or a test).
	PerIP       int
	PerIPWindow time.Duration
	// Global is how many Flows started in the current and the previous
	// GlobalWindow may be pending at once. Default 100000 (tens of MB of
	// store), windows of 30 minutes (session.flow_lifetime at most).
	Global       int
	GlobalWindow time.Duration
}

func (l *FlowLimits) setDefaults() {
	if l.PerIP == 0 {
		l.PerIP = 300
	}
	if l.PerIPWindow == 0 {
		l.PerIPWindow = time.Minute
	}
	if l.Global == 0 {
		l.Global = 100000
	}
	if l.GlobalWindow == 0 {
		l.GlobalWindow = 30 * time.Minute
	}
}

const flowCounterNamespace = "server_flows"

// Message keys of templates/messages/security.json.
const (
	msgTooManyRequests = "error_too_many_requests"
	msgBusy            = "error_busy"
)

// admitFlow counts a new Flow against the per-IP and global caps and
// answers the refusal page when one is exceeded (nil: go ahead). Without an
// idp.Counter in the store there is nothing to count with and the Flow is
// admitted.
func (s *Server) admitFlow(c echo.Context) error {
	ctr, ok := s.store.(idp.Counter)
	if !ok {
		return nil
	}
	ctx := c.Request().Context()
	now := s.now()
	ip := c.RealIP()
	if addr := net.ParseIP(ip); addr != nil && !addr.IsLoopback() {
		n, err := windowIncr(ctx, ctr, "ip\n"+ip, now, s.flowLimits.PerIPWindow)
		if err != nil {
			return s.flowCountFailed(c, err)
		}
		if n > int64(s.flowLimits.PerIP) {
			s.log.Warn("flow_rate_limited", "request_id", requestID(c), "ip", ip)
			s.observer.Throttled("flow_ip")
			c.Response().Header().Set("Retry-After", strconv.Itoa(int(s.flowLimits.PerIPWindow.Seconds())))
			return s.ErrorPage(c, http.StatusTooManyRequests, msgTooManyRequests)
		}
	}
	pending, err := s.pendingFlows(ctx, ctr, now)
	if err != nil {
		return s.flowCountFailed(c, err)
	}
	if pending > int64(s.flowLimits.Global) {
		s.flowEnded(ctx, now) // refused: never pending
		s.log.Error("flow_global_cap_reached", "request_id", requestID(c), "ip", ip)
		s.observer.Throttled("flow_global")
		c.Response().Header().Set("Retry-After", "60")
		return s.ErrorPage(c, http.StatusServiceUnavailable, msgBusy)
	}
	return nil
}

func (s *Server) flowCountFailed(c echo.Context, err error) error {
	s.log.Error("flow_count_failed", "request_id", requestID(c), "err", err)
	return s.ErrorPage(c, http.StatusServiceUnavailable, "error_internal")
}

// Counter keys of the global cap: Flows started, and Flows ended (taken
// by a login, refused, or not stored), per window of their start.
const (
	flowsStarted = "global"
	flowsEnded   = "global_done"
)

// pendingFlows counts a new Flow as started and returns how many Flows
// started in this window and the previous one have not ended.
func (s *Server) pendingFlows(ctx context.Context, ctr idp.Counter, now time.Time) (int64, error) {
	w := s.flowLimits.GlobalWindow
	started, err := windowIncr(ctx, ctr, flowsStarted, now, w)
	if err != nil {
		return 0, err
	}
	pending := started
	for _, k := range []struct {
		at   time.Time
		key  string
		sign int64
	}{{now.Add(-w), flowsStarted, 1}, {now, flowsEnded, -1}, {now.Add(-w), flowsEnded, -1}} {
		n, err := ctr.Count(ctx, flowCounterNamespace, windowKey(k.at, w, k.key))
		if err != nil {
			return 0, err
		}
		pending += k.sign * n
	}
	return pending, nil
}

// flowEnded counts the Flow started at createdAt as no longer pending.
// A failure only leaves it counted until its window passes.
func (s *Server) flowEnded(ctx context.Context, createdAt time.Time) {
	ctr, ok := s.store.(idp.Counter)
	if !ok {
		return
	}
	if _, err := windowIncr(ctx, ctr, flowsEnded, createdAt, s.flowLimits.GlobalWindow); err != nil {
		s.log.Warn("flow_count_failed", "err", err)
	}
}

// windowKey names key's counter in the window of length w that holds t.
func windowKey(t time.Time, w time.Duration, key string) string {
	return strconv.FormatInt(t.UnixNano()/int64(w), 10) + "\n" + key
}

// windowIncr counts one event in the fixed window of length w that holds
// now. Windows are aligned to multiples of w, so the key names the window.
func windowIncr(ctx context.Context, ctr idp.Counter, key string, now time.Time, w time.Duration) (int64, error) {
	slot := now.UnixNano() / int64(w)
	exp := time.Unix(0, (slot+2)*int64(w))
	return ctr.Incr(ctx, flowCounterNamespace, windowKey(now, w, key), exp)
}
