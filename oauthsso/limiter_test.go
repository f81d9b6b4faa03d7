package oauthsso

import (
	"context"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/memory"
)

// TestStoreLimiter: per (client, IP) and per client limits, separate
// clients, and a fresh window after the window ends.
func TestStoreLimiter(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	st := store.New(memory.New(memory.WithClock(clk.Now), memory.WithSweepInterval(-1)))
	t.Cleanup(func() { st.Close() })
	l := NewStoreLimiter(st.(idp.Counter), clk.Now).WithLimits(time.Minute, 3, 5)
	ctx := context.Background()
	allow := func(id, ip string) bool {
		t.Helper()
		ok, err := l.Allow(ctx, id, ip)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	fail := func(id, ip string) {
		t.Helper()
		if err := l.Failed(ctx, id, ip); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if !allow("a", "10.0.0.1") {
			t.Fatal("refused before the limit")
		}
		fail("a", "10.0.0.1")
	}
	if allow("a", "10.0.0.1") {
		t.Error("client a from 10.0.0.1 allowed after 3 failures")
	}
	if !allow("a", "10.0.0.2") || !allow("b", "10.0.0.1") {
		t.Error("another IP or another client is refused")
	}
	fail("a", "10.0.0.2")
	fail("a", "10.0.0.3")
	if allow("a", "10.0.0.4") {
		t.Error("client a allowed from a new IP after 5 failures in total")
	}
	clk.Advance(time.Minute)
	if !allow("a", "10.0.0.1") {
		t.Error("still refused in the next window")
	}
}
