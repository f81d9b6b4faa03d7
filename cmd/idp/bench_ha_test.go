package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/ncp-sso/idp/idp/store/redisstore/redistest"
)

// The HA journey benchmarks run the same journeys through a round-robin
// balancer in front of two servers that share one Redis, so consecutive
// steps of one login land on different instances:
//
//	go test -run '^$' -bench 'Journey(HA)?$' ./cmd/idp
//
// Their logins/s sit next to the single-instance bolt figure of
// BenchmarkOAuthJourney and BenchmarkSAMLJourney.

func BenchmarkOAuthJourneyHA(b *testing.B) { benchOAuth(b, benchHA(b, false)) }

func BenchmarkSAMLJourneyHA(b *testing.B) { benchSAML(b, benchHA(b, true)) }

// benchHA starts Redis, two servers on it, and a balancer; it returns the
// balancer's URL.
func benchHA(b *testing.B, withSAML bool) string {
	b.Helper()
	rd := redistest.Start(b)
	bases := benchServers(b, withSAML, fmt.Sprintf("backend: redis\n  redis: {addr: %q}", rd.Addr), 2)
	return roundRobin(b, bases)
}

// roundRobin is a minimal HTTP load balancer: each request goes to the next
// backend in turn, whatever the step or the session.
func roundRobin(tb testing.TB, bases []string) string {
	tb.Helper()
	var targets []*url.URL
	for _, s := range bases {
		u, err := url.Parse(s)
		if err != nil {
			tb.Fatal(err)
		}
		targets = append(targets, u)
	}
	var next atomic.Uint64
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(targets[next.Add(1)%uint64(len(targets))])
			r.Out.Host = r.In.Host
		},
		Transport: &http.Transport{MaxIdleConnsPerHost: 128},
	}
	ts := httptest.NewServer(proxy)
	tb.Cleanup(ts.Close)
	return ts.URL
}
