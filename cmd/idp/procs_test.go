package main

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/memory"
)

// slowDisk is a backend whose writes take d, like a commit waiting for a
// disk flush.
type slowDisk struct {
	store.Backend
	d time.Duration
}

func (s slowDisk) Put(ctx context.Context, bucket string, key, value []byte, exp time.Time) error {
	time.Sleep(s.d)
	return s.Backend.Put(ctx, bucket, key, value, exp)
}

func (s slowDisk) Delete(ctx context.Context, bucket string, key []byte) error {
	time.Sleep(s.d)
	return s.Backend.Delete(ctx, bucket, key)
}

// TestProcessorsForDisk: with one Go processor, a store whose commits take
// milliseconds gets a second one; a fast store, or GOMAXPROCS set by the
// operator, does not.
func TestProcessorsForDisk(t *testing.T) {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()

	fast := memory.New()
	defer fast.Close()
	processorsForDisk(ctx, fast, log)
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Errorf("fast store: GOMAXPROCS %d, want 1", n)
	}

	slow := slowDisk{Backend: memory.New(), d: 3 * time.Millisecond}
	defer slow.Close()
	t.Setenv("GOMAXPROCS", "1")
	processorsForDisk(ctx, slow, log)
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Errorf("GOMAXPROCS set by the operator: now %d, want 1", n)
	}
	t.Setenv("GOMAXPROCS", "")
	processorsForDisk(ctx, slow, log)
	if n := runtime.GOMAXPROCS(0); n != 2 {
		t.Errorf("slow store: GOMAXPROCS %d, want 2", n)
	}
}
