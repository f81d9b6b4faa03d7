package cputime

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Thread is the calling OS thread's CPU time (CLOCK_THREAD_CPUTIME_ID).
// Pin the goroutine (runtime.LockOSThread) between two readings.
func Thread() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, fmt.Errorf("cputime: clock_gettime: %w", err)
	}
	return time.Duration(ts.Nano()), nil
}
