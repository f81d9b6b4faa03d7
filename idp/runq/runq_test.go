package runq

import (
	"runtime/metrics"
	"testing"
)

// TestMetric: the Go release we build with has the scheduler metric (an
// unknown name would read as "nobody waiting" and silently turn off the
// committer's yielding and the watcher's busy period).
func TestMetric(t *testing.T) {
	for _, d := range metrics.All() {
		if d.Name == Metric {
			if d.Kind != metrics.KindUint64 {
				t.Fatalf("%s is of kind %v", Metric, d.Kind)
			}
			Reader()() // reads without failing
			return
		}
	}
	t.Fatalf("runtime/metrics has no %s", Metric)
}
