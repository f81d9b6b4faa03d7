//go:build !linux

package cputime

import "time"

// Thread returns ErrUnsupported here.
func Thread() (time.Duration, error) { return 0, ErrUnsupported }
