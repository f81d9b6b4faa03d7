// Package runq reads how many goroutines are waiting for a processor: Go
// runtime's run queues, through runtime/metrics, without stopping
// anything. The store's committer yields to them before a commit, and the
// server's back-channel watcher looks more often while there are any.
package runq

import "runtime/metrics"

// Metric is the runtime/metrics name read.
const Metric = "/sched/goroutines/runnable:goroutines"

// Reader returns a function that reads the count (0 if the Go release
// does not have the metric). Each function is for one goroutine at a time.
func Reader() func() uint64 {
	s := []metrics.Sample{{Name: Metric}}
	return func() uint64 {
		metrics.Read(s)
		if s[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[0].Value.Uint64()
	}
}
