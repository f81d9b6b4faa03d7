package templates

import (
	"bytes"
	"runtime"
	"sort"
	"testing"
)

// retainedHeap reports the heap a loaded Set keeps once it has rendered
// every page in every language with one brand, as a server does: the
// HeapAlloc after minus before, each after a full collection, with only
// the Set still reachable.
func retainedHeap(tb testing.TB) uint64 {
	tb.Helper()
	before := liveHeap()
	s := warmSet(tb)
	after := liveHeap()
	runtime.KeepAlive(s)
	if after < before {
		return 0
	}
	return after - before
}

// warmSet loads the embedded pages and renders each golden case in each
// language with the golden brand.
func warmSet(tb testing.TB) *Set {
	tb.Helper()
	s, err := Load("", goldenBrand())
	if err != nil {
		tb.Fatal(err)
	}
	cases := goldenCases()
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, n := range names {
		for _, lang := range Languages {
			b.Reset()
			if err := s.Render(&b, cases[n].page, goldenPage(lang, cases[n].data)); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return s
}

// liveHeap is HeapAlloc after the garbage collector has run twice (the
// second empties sync.Pool's victim cache of render buffers).
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkRetainedHeap reports the heap a warm Set retains (retained-B)
// and times loading and warming a Set.
func BenchmarkRetainedHeap(b *testing.B) {
	retained := retainedHeap(b)
	b.ReportAllocs()
	for b.Loop() {
		warmSet(b)
	}
	b.ReportMetric(float64(retained), "retained-B")
}
