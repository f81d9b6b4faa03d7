package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ncp-sso/idp/idp"
)

// Config is the `metrics:` section.
type Config struct {
	// Listen is the host:port of the Prometheus endpoint /metrics, e.g.
	// "127.0.0.1:9090". Default empty: no metrics listener. Keep it off
	// the public network: it is plain HTTP without authentication.
	Listen string `yaml:"listen"`
}

// SetDefaults fills zero values (there are none to fill).
func (c *Config) SetDefaults() {}

// Validate reports every problem at once.
func (c *Config) Validate() idp.Problems {
	var ps idp.Problems
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			ps.Addf("listen", "must be host:port, e.g. 127.0.0.1:9090, or empty for no metrics (%v)", err)
		}
	}
	return ps
}

// Metrics holds the collectors. Its methods are safe for concurrent use.
type Metrics struct {
	reg       *prometheus.Registry
	logins    *prometheus.CounterVec
	requests  *prometheus.HistogramVec
	ldap      *prometheus.HistogramVec
	ldapErrs  *prometheus.CounterVec
	failovers *prometheus.CounterVec
	throttled *prometheus.CounterVec
	certs     *prometheus.GaugeVec
	sigs      prometheus.Counter
	sigTimed  prometheus.Counter
	sigCPU    prometheus.Counter
	now       func() time.Time

	mu       sync.Mutex
	expiring map[int64]int // expiry minute -> sessions
	ended    int
}

// New registers every metric in a registry of its own. now may be nil
// (time.Now).
func New(now func() time.Time) *Metrics {
	if now == nil {
		now = time.Now
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(), now: now, expiring: map[int64]int{},
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "idp_logins_total", Help: "Sign-in outcomes by SP, SSO mode, result and reason.",
		}, []string{"sp", "mode", "result", "reason"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "idp_http_request_duration_seconds", Help: "Time to answer HTTP requests, by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2, 3, 5, 10},
		}, []string{"route"}),
		ldap: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "idp_ldap_request_duration_seconds", Help: "Time of LDAP operations, by server and result.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"server", "result"}),
		ldapErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "idp_ldap_errors_total", Help: "LDAP operations the server did not answer (network errors, timeouts), by server.",
		}, []string{"server"}),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "idp_ldap_failovers_total", Help: "Connections made to another LDAP server after one failed.",
		}, []string{"from", "to"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "idp_throttled_total", Help: "Attempts refused by a rate limit, by kind.",
		}, []string{"kind"}),
		certs: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "idp_certificate_expiry_timestamp_seconds", Help: "NotAfter of the certificates in use, as a Unix time.",
		}, []string{"cert"}),
	}
	m.sigs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "idp_saml_signatures_total", Help: "RSA signatures made for SAML Responses and Assertions.",
	})
	m.sigTimed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "idp_saml_signatures_timed_total", Help: "Those signatures whose CPU time was measured (the first, then one in 16).",
	})
	m.sigCPU = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "idp_saml_signing_cpu_seconds_total",
		Help: "CPU time of the timed signatures, each measured on the thread that made it; over idp_saml_signatures_timed_total, the mean signing time.",
	})
	sessions := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "idp_sessions_active", Help: "Approximate live SSO sessions started by this process (see package doc).",
	}, m.activeSessions)
	m.reg.MustRegister(m.logins, m.requests, m.ldap, m.ldapErrs, m.failovers, m.throttled, m.certs, m.sigs, m.sigTimed, m.sigCPU, sessions,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry is the registry of every metric (for tests).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Audit counts a sign-in outcome (it implements the server's Auditor).
func (m *Metrics) Audit(_ context.Context, e idp.AuditEvent) {
	sp, mode := e.SP, e.Mode
	if sp == "" {
		sp = "none"
	}
	if mode == "" {
		mode = "none"
	}
	m.logins.WithLabelValues(sp, mode, string(e.Result), e.Reason).Inc()
}

// Request observes one HTTP request.
func (m *Metrics) Request(route string, _ int, d time.Duration) {
	if route == "" {
		route = "other"
	}
	m.requests.WithLabelValues(route).Observe(d.Seconds())
}

// Signed counts one SAML signature and, when it was timed, its CPU time
// (saml.SigningObserver).
func (m *Metrics) Signed(cpu time.Duration, timed bool) {
	m.sigs.Inc()
	if timed {
		m.sigTimed.Inc()
		m.sigCPU.Add(cpu.Seconds())
	}
}

// Throttled counts a refused attempt.
func (m *Metrics) Throttled(kind string) { m.throttled.WithLabelValues(kind).Inc() }

// SessionStarted counts a new SSO session until expiresAt.
func (m *Metrics) SessionStarted(expiresAt time.Time) {
	m.mu.Lock()
	m.expiring[expiresAt.Unix()/60]++
	m.mu.Unlock()
}

// SessionEnded counts a logout.
func (m *Metrics) SessionEnded() {
	m.mu.Lock()
	m.ended++
	m.mu.Unlock()
}

func (m *Metrics) activeSessions() float64 {
	now := m.now().Unix() / 60
	m.mu.Lock()
	defer m.mu.Unlock()
	live := 0
	for minute, n := range m.expiring {
		if minute < now {
			delete(m.expiring, minute)
			continue
		}
		live += n
	}
	// Logouts of sessions that have since expired no longer count.
	m.ended = min(m.ended, live)
	return float64(live - m.ended)
}

// LDAPRequest observes one LDAP operation on server (a configured URL);
// result is "ok", "ldap_error" (the server answered with an error code,
// e.g. a wrong password) or "network_error" (no answer).
func (m *Metrics) LDAPRequest(server string, d time.Duration, result string) {
	m.ldap.WithLabelValues(server, result).Observe(d.Seconds())
	if result == "network_error" {
		m.ldapErrs.WithLabelValues(server).Inc()
	}
}

// LDAPFailover counts a connection made to server to after from failed.
func (m *Metrics) LDAPFailover(from, to string) { m.failovers.WithLabelValues(from, to).Inc() }

// SetCertificateExpiry records the NotAfter of a certificate in use.
func (m *Metrics) SetCertificateExpiry(cert string, notAfter time.Time) {
	m.certs.WithLabelValues(cert).Set(float64(notAfter.Unix()))
}

// Serve answers /metrics on ln until ctx ends.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	if log != nil {
		hs.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("metrics: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	return nil
}
