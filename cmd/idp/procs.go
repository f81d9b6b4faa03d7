package main

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
)

// On one CPU `idp serve` runs one Go processor (Go's default): two on one
// core are time-sliced by the kernel, which stalled requests mid-way
// (idpbench: token p99 10-17 ms with two, 4-8 ms with one and the
// back-channel watcher). The price is that a store commit's fdatasync
// holds the only processor while the disk flushes: on this project's VM a
// commit syncs in about 0.3 ms and the processor idles some 10 % of the
// time at the peak, but on a disk that takes milliseconds to flush every
// request would wait for it. So the bolt store's commit time is measured
// at start-up, and when it is slow a second processor is started after
// all, so that requests run while the disk flushes.

// slowCommit is the commit time above which a second processor pays.
const slowCommit = time.Millisecond

// syncProbeBucket holds the start-up probe's short-lived record.
const syncProbeBucket = "sync_probe"

// processorsForDisk starts a second Go processor when there is one, the
// operator did not set GOMAXPROCS, and the bolt file commits slowly.
func processorsForDisk(ctx context.Context, b store.Backend, log *slog.Logger) {
	if os.Getenv("GOMAXPROCS") != "" || runtime.GOMAXPROCS(0) != 1 {
		return
	}
	d, err := commitTime(ctx, b)
	if err != nil {
		log.Warn("sync_probe_failed", "err", err)
		return
	}
	log.Debug("sync_probe", "commit_ms", float64(d.Microseconds())/1000, "slow_ms", float64(slowCommit.Microseconds())/1000)
	if d > slowCommit {
		runtime.GOMAXPROCS(2)
		log.Info("gomaxprocs_raised", "gomaxprocs", 2, "commit_ms", float64(d.Microseconds())/1000,
			"reason", "the store's disk flushes slowly: a second processor serves requests meanwhile")
	}
}

// commitTime is the median time of a few committed writes to b.
func commitTime(ctx context.Context, b store.Backend) (time.Duration, error) {
	key := []byte("probe-" + idp.NewID(nil))
	var ds []time.Duration
	for range 3 {
		start := time.Now()
		if err := b.Put(ctx, syncProbeBucket, key, []byte{1}, time.Now().Add(time.Minute)); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(start))
		start = time.Now()
		if err := b.Delete(ctx, syncProbeBucket, key); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}
