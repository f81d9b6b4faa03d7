// Package cputime reads the CPU time of the calling OS thread, to time a
// piece of CPU-bound work (an RSA signature) in the CPU it used, whatever
// else the process or the machine did meanwhile. Linux only; elsewhere
// Thread returns ErrUnsupported.
package cputime

import (
	"errors"
	"runtime"
	"time"
)

// ErrUnsupported is returned where the thread's CPU clock is not read.
var ErrUnsupported = errors.New("cputime: thread CPU time is read on Linux only")

// Measure runs f on one OS thread that runs nothing else meanwhile and
// returns the CPU time f used; ok is false when it could not be read.
func Measure(f func()) (d time.Duration, ok bool) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0, err := Thread()
	f()
	if err != nil {
		return 0, false
	}
	t1, err := Thread()
	if err != nil {
		return 0, false
	}
	return t1 - t0, true
}
