package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncp-sso/idp/certs/certstest"
	"github.com/ncp-sso/idp/idp/config"
	"github.com/ncp-sso/idp/oauthsso/spsim"
)

// The journey benchmarks run complete logins with fresh browsers (new
// cookie jar each), many at once, against the real server with the bolt
// store and a real slapd, and report throughput and per-step latency:
//
//	make bench      (or go test -run '^$' -bench Journey ./cmd/idp)
//
// Concurrency is -cpu × 32 browsers (64 on this 2-core machine).

func benchServer(b *testing.B, withSAML bool) string {
	b.Helper()
	return benchServers(b, withSAML, fmt.Sprintf("path: %q", filepath.Join(b.TempDir(), "idp.db")), 1)[0]
}

// benchServers starts n servers that share one directory, the SAML key
// files and the store described by storeYAML (the `store:` section's body).
func benchServers(b *testing.B, withSAML bool, storeYAML string, n int) []string {
	b.Helper()
	sl, ou := directoryFixtureTB(b)
	extra := ""
	if withSAML {
		k, c := certstest.SigningFiles(b, b.TempDir())
		extra = fmt.Sprintf("saml:\n  signing: {key_file: %q, cert_file: %q}\n  service_providers:\n    - {profile: workplace, company: acme}\n", k, c)
	}
	yaml := fmt.Sprintf(`
server:
  public_url: "https://sso.example.test"
store:
  %s
ldap:
  urls: [%q]
  ca_file: %q
  bind_dn: "cn=svc,%s"
  bind_password: "svc-pa$$word"
  pool_size: 8
  user:
    base_dn: %q
# Every browser signs in as hana, up to 64 at once: the login throttle
# counts attempts in flight per account, and this measures journeys.
throttle: {max_failures_per_account: 10000, max_failures_per_ip: 10000}
oauth:
  clients:
    - {name: wp, client_id: wp-client, client_secret: "wp-secret-0123456789", profile: workplace, company: acme}
%s`, storeYAML, sl.URL, sl.CAFile, ou, ou, extra)
	var bases []string
	for range n {
		cfg, err := config.Parse(strings.NewReader(yaml), func(string) (string, bool) { return "", false })
		if err != nil {
			b.Fatal(err)
		}
		bases = append(bases, startServer(b, cfg))
	}
	return bases
}

// latencies collects step durations from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  map[string][]time.Duration
}

func (l *latencies) add(name string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.d == nil {
		l.d = map[string][]time.Duration{}
	}
	l.d[name] = append(l.d[name], d)
}

func (l *latencies) report(b *testing.B, names ...string) {
	for _, n := range names {
		ds := l.d[n]
		if len(ds) == 0 {
			continue
		}
		slices.Sort(ds)
		p := func(q float64) float64 { return float64(ds[int(q*float64(len(ds)-1))].Microseconds()) / 1000 }
		b.ReportMetric(p(0.50), n+"_p50_ms")
		b.ReportMetric(p(0.99), n+"_p99_ms")
	}
}

func BenchmarkOAuthJourney(b *testing.B) { benchOAuth(b, benchServer(b, false)) }

// benchOAuth runs the OAuth journey benchmark against base.
func benchOAuth(b *testing.B, base string) {
	var lat latencies
	var failed atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			jar, _ := cookiejar.New(nil)
			res, err := spsim.Run(context.Background(), spsim.Config{
				HTTPClient: &http.Client{Jar: jar, Timeout: 10 * time.Second}, IdPURL: base,
				ClientID: "wp-client", ClientSecret: "wp-secret-0123456789",
				CallbackURL: "https://acme.ncpworkplace.com/cb", Username: "hana", Password: "Hana!2345",
			})
			if err != nil {
				failed.Add(1)
				continue
			}
			var tu time.Duration
			for _, s := range res.Steps {
				lat.add(s.Name, s.Duration)
				if s.Name == "token" || s.Name == "userinfo" {
					tu += s.Duration
				}
			}
			lat.add("token+userinfo", tu)
			lat.add("login", res.Total)
		}
	})
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "logins/s")
	b.ReportMetric(float64(failed.Load()), "errors")
	lat.report(b, "login", "login_submit", "token", "userinfo", "token+userinfo")
}

func BenchmarkSAMLJourney(b *testing.B) { benchSAML(b, benchServer(b, true)) }

// benchSAML runs the SAML journey benchmark against base.
func benchSAML(b *testing.B, base string) {
	acs := "https://acme.ncpworkplace.com/authn/saml/acs"
	var lat latencies
	var failed, seq atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			t0 := time.Now()
			br := newBrowserTB(b, base)
			id := fmt.Sprintf("_bench%026d", seq.Add(1))
			q := url.Values{"SAMLRequest": {workplaceAuthnRequestTB(b, id, acs)}, "RelayState": {"r"}}
			// The login form itself answers the request (a failed login
			// below counts a missing form).
			_, page := br.get("/saml/sso?" + q.Encode())
			t1 := time.Now()
			resp, body := br.login(page, "hana", "Hana!2345")
			lat.add("login_submit+sign", time.Since(t1))
			if _, err := parseSAMLPost([]byte(body)); resp.StatusCode != http.StatusOK || err != nil {
				failed.Add(1)
				continue
			}
			lat.add("login", time.Since(t0))
		}
	})
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "logins/s")
	b.ReportMetric(float64(failed.Load()), "errors")
	lat.report(b, "login", "login_submit+sign")
}
