package ldapauth

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/ncp-sso/idp/ldapauth/slapdtest"
)

// BenchmarkAuthenticate is one login's directory work against a real
// slapd: the service search and the user bind, on pooled connections
// (StartTLS, as in the tests). ns/op includes slapd's time and the round
// trips; cpu-ns/op is this process's CPU alone (slapd is another
// process), the IdP side of a login's directory work.
func BenchmarkAuthenticate(b *testing.B) {
	f := newFixtureOn(b, slapdtest.Start(b))
	f.user(b, "Alice", "alice", "alice@corp.example", "pw-alice", nil)
	a := f.newAuth(b, f.config())
	ctx := context.Background()
	b.ReportAllocs()
	before := processCPU(b)
	for b.Loop() {
		if _, ok, err := a.Authenticate(ctx, "alice", "pw-alice"); !ok || err != nil {
			b.Fatalf("Authenticate: ok=%v err=%v", ok, err)
		}
	}
	b.ReportMetric(float64(processCPU(b)-before)/float64(b.N), "cpu-ns/op")
}

// processCPU is the user and system CPU time this process has used.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
