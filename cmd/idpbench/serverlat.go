package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// The IdP's own view of a request's time: its request-duration histogram
// (idp_http_request_duration_seconds on the metrics listener), read as
// the window opens and closes. It starts when the HTTP server hands the
// parsed request to the router and ends when the handler returns, so the
// difference to the generator's figure is the time a request spent before
// the IdP's Go runtime read it (and the response on the way back): on a
// saturated processor, the network poller is consulted only when a
// processor runs out of work, or every 10 ms by the runtime's monitor
// (unless the IdP's back-channel watcher wakes the request first).

// histograms are cumulative bucket counts by route and upper bound (s).
type histograms map[string]map[float64]float64

// metricsReading is one reading of the IdP's metrics: the request
// histogram and the unlabelled counters (the SAML signing counters).
type metricsReading struct {
	durations histograms
	counters  map[string]float64
}

var (
	bucketLine  = regexp.MustCompile(`^idp_http_request_duration_seconds_bucket\{route="([^"]*)",le="([^"]+)"\} ([0-9.e+]+)$`)
	counterLine = regexp.MustCompile(`^((?:idp|go_memstats)_[a-z_]+_total) ([0-9.e+-]+)$`)
)

// Signing counters: RSA signatures timed (one in saml.TimedEvery), and
// their CPU time measured on the thread that made each
// (saml.SigningObserver).
const (
	metricSignaturesTimed = "idp_saml_signatures_timed_total"
	// metricSignatures counts every signature; before sampling (until
	// f7ced91) every one was timed, so it is the divisor for such builds.
	metricSignatures = "idp_saml_signatures_total"
	metricSigningCPU = "idp_saml_signing_cpu_seconds_total"
	// metricAllocBytes is the Go runtime's count of heap bytes allocated.
	metricAllocBytes = "go_memstats_alloc_bytes_total"
)

// scrapeMetrics reads the metrics listener.
func scrapeMetrics(ctx context.Context, metricsURL string) (metricsReading, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m := metricsReading{durations: histograms{}, counters: map[string]float64{}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return m, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return m, fmt.Errorf("idpbench: metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("idpbench: metrics: HTTP %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if c := counterLine.FindStringSubmatch(sc.Text()); c != nil {
			if v, err := strconv.ParseFloat(c[2], 64); err == nil {
				m.counters[c[1]] = v
			}
			continue
		}
		b := bucketLine.FindStringSubmatch(sc.Text())
		if b == nil {
			continue
		}
		le, err1 := strconv.ParseFloat(b[2], 64) // "+Inf" parses too
		n, err2 := strconv.ParseFloat(b[3], 64)
		if err1 != nil || err2 != nil {
			continue
		}
		if m.durations[b[1]] == nil {
			m.durations[b[1]] = map[float64]float64{}
		}
		m.durations[b[1]][le] = n
	}
	return m, sc.Err()
}

// signingInside is the mean CPU time per signature the IdP measured on
// its own threads between two readings, in ms (0: no signature timed).
func signingInside(before, after metricsReading) float64 {
	timed := metricSignaturesTimed
	if _, sampled := after.counters[timed]; !sampled {
		timed = metricSignatures // an IdP from before sampling timed them all
	}
	n := after.counters[timed] - before.counters[timed]
	if n <= 0 {
		return 0
	}
	return (after.counters[metricSigningCPU] - before.counters[metricSigningCPU]) * 1000 / n
}

// serverSide is one route's time inside the IdP over a window.
type serverSide struct {
	N int64 `json:"n"`
	// P99AtMostMs is the smallest bucket bound within which 99 % of the
	// calls were answered (the histogram cannot say more).
	P99AtMostMs float64 `json:"p99_at_most_ms"`
	// Within5ms is the share of calls answered within 5 ms.
	Within5ms float64 `json:"within_5ms"`
}

// serverSides turns two readings into each route's figures.
func serverSides(before, after histograms, routes ...string) map[string]serverSide {
	out := map[string]serverSide{}
	for _, route := range routes {
		a, b := after[route], before[route]
		if a == nil {
			continue
		}
		bounds := slices.Sorted(func(yield func(float64) bool) {
			for le := range a {
				if !yield(le) {
					return
				}
			}
		})
		total := a[bounds[len(bounds)-1]] - b[bounds[len(bounds)-1]]
		if total <= 0 {
			continue
		}
		s := serverSide{N: int64(total)}
		for _, le := range bounds {
			share := (a[le] - b[le]) / total
			if le == 0.005 {
				s.Within5ms = share
			}
			if s.P99AtMostMs == 0 && share >= 0.99 {
				s.P99AtMostMs = le * 1000
			}
		}
		out[route] = s
	}
	return out
}

// metrics reads the IdP's metrics listener.
func (s *ourIdP) metrics(ctx context.Context) func() (metricsReading, error) {
	return func() (metricsReading, error) { return scrapeMetrics(ctx, s.MetricsURL) }
}
