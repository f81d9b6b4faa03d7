package cputime

import (
	"crypto/sha256"
	"runtime"
	"testing"
	"time"
)

// TestMeasure: busy work is measured in the CPU it used (a fixed amount of
// work, so that a loaded machine stretches its wall time but not its CPU
// time, which can never exceed the wall time), and a sleep is not.
func TestMeasure(t *testing.T) {
	if runtime.GOOS != "linux" {
		if _, ok := Measure(func() {}); ok {
			t.Fatal("Measure reported a time where the clock is not read")
		}
		t.Skip("thread CPU time is read on Linux only")
	}
	start := time.Now()
	busy, ok := Measure(func() {
		sum := sha256.Sum256(nil)
		// Some 20-60 ms of CPU on the machines this runs on.
		for range 200_000 {
			sum = sha256.Sum256(sum[:])
		}
	})
	wall := time.Since(start)
	if !ok || busy < 5*time.Millisecond || busy > wall+time.Millisecond {
		t.Errorf("200,000 hashes measured %v of CPU in %v of wall time (ok %v)", busy, wall, ok)
	}
	idle, ok := Measure(func() { time.Sleep(30 * time.Millisecond) })
	if !ok || idle > 5*time.Millisecond {
		t.Errorf("a 30 ms sleep measured %v of CPU (ok %v)", idle, ok)
	}
}
