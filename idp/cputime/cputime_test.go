package cputime

import (
	"crypto/sha256"
	"runtime"
	"testing"
	"time"
)

// TestMeasure: busy work is measured in the CPU it used, and a sleep of
// the same wall time is not.
func TestMeasure(t *testing.T) {
	if runtime.GOOS != "linux" {
		if _, ok := Measure(func() {}); ok {
			t.Fatal("Measure reported a time where the clock is not read")
		}
		t.Skip("thread CPU time is read on Linux only")
	}
	busy, ok := Measure(func() {
		sum := sha256.Sum256(nil)
		for start := time.Now(); time.Since(start) < 30*time.Millisecond; {
			sum = sha256.Sum256(sum[:])
		}
	})
	if !ok || busy < 5*time.Millisecond {
		t.Errorf("30 ms of hashing measured %v (ok %v)", busy, ok)
	}
	idle, ok := Measure(func() { time.Sleep(30 * time.Millisecond) })
	if !ok || idle > 5*time.Millisecond {
		t.Errorf("a 30 ms sleep measured %v of CPU (ok %v)", idle, ok)
	}
}
