package main

import (
	"context"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestServerSides: two readings of a real histogram exposition give the
// window's share within 5 ms and the bucket bound of its 99th percentile;
// the calls before the window do not count.
func TestServerSides(t *testing.T) {
	reading := func(c1, c25, c5, c10, inf int) string {
		return fmt.Sprintf(`# HELP idp_http_request_duration_seconds Time to answer HTTP requests, by route pattern.
# TYPE idp_http_request_duration_seconds histogram
idp_http_request_duration_seconds_bucket{route="/oauth/token",le="0.001"} %d
idp_http_request_duration_seconds_bucket{route="/oauth/token",le="0.0025"} %d
idp_http_request_duration_seconds_bucket{route="/oauth/token",le="0.005"} %d
idp_http_request_duration_seconds_bucket{route="/oauth/token",le="0.01"} %d
idp_http_request_duration_seconds_bucket{route="/oauth/token",le="+Inf"} %d
idp_http_request_duration_seconds_sum{route="/oauth/token"} 1.5
idp_http_request_duration_seconds_count{route="/oauth/token"} %d
# TYPE idp_saml_signatures_total counter
idp_saml_signatures_total %d
# TYPE idp_saml_signatures_timed_total counter
idp_saml_signatures_timed_total %d
# TYPE idp_saml_signing_cpu_seconds_total counter
idp_saml_signing_cpu_seconds_total %g
# TYPE go_memstats_alloc_bytes_total counter
go_memstats_alloc_bytes_total %g
`, c1, c25, c5, c10, inf, inf, inf/10, inf/40, float64(inf)/40*0.0011, float64(inf)*1.5e5)
	}
	body := reading(900, 950, 990, 1000, 1000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, body) }))
	defer srv.Close()
	before, err := scrapeMetrics(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	// In the window: 1,000 calls, 800 within 1 ms, 970 within 2.5 ms,
	// 985 within 5 ms, 995 within 10 ms.
	body = reading(1700, 1920, 1975, 1995, 2000)
	after, err := scrapeMetrics(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	got := serverSides(before.durations, after.durations, "/oauth/token", "/oauth/userinfo")
	tk, ok := got["/oauth/token"]
	if !ok || len(got) != 1 {
		t.Fatalf("routes %v", got)
	}
	if tk.N != 1000 || math.Abs(tk.Within5ms-0.985) > 1e-9 || tk.P99AtMostMs != 10 {
		t.Errorf("token %+v, want n 1000, 98.5 %% within 5 ms, p99 within 10 ms", tk)
	}
	// 25 timed signatures of 1.1 ms each (of 100) in the window.
	if got := signingInside(before, after); math.Abs(got-1.1) > 1e-6 {
		t.Errorf("signing inside = %v ms per signature, want 1.1", got)
	}
	// An IdP from before sampling timed every signature and has no
	// timed counter: every signature is the divisor.
	untimed := func(m metricsReading) metricsReading {
		c := maps.Clone(m.counters)
		delete(c, metricSignaturesTimed)
		c[metricSigningCPU] *= 4
		return metricsReading{durations: m.durations, counters: c}
	}
	if got := signingInside(untimed(before), untimed(after)); math.Abs(got-1.1) > 1e-6 {
		t.Errorf("signing inside, every signature timed = %v ms per signature, want 1.1", got)
	}
	if got := after.counters[metricAllocBytes] - before.counters[metricAllocBytes]; got != 1.5e8 {
		t.Errorf("allocated in the window: %v bytes, want 1.5e8 (the exposition's 1.5e+08 form)", got)
	}
	if got := signingInside(after, after); got != 0 {
		t.Errorf("signing inside without signatures = %v, want 0", got)
	}
}
