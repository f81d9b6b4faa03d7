//go:build linux

package server

import (
	"net"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkWatcherRound is one watcher round over 64 marked connections
// parked in Read with nothing to read (the SPs' kept-alive connections
// between calls): what the watcher costs every watchBusy at the peak.
func BenchmarkWatcherRound(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	sl := wrapListener(ln).(*spListener)
	defer sl.Close()
	for range 64 {
		cl, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		c, err := sl.Accept()
		if err != nil {
			b.Fatal(err)
		}
		sc := c.(*spConn)
		defer sc.Close()
		sc.markBackChannel()
		go func() { _, _ = sc.Read(make([]byte, 16)) }()
		for !sc.reading.Load() {
			runtime.Gosched()
		}
	}
	var events [64]unix.EpollEvent
	b.ReportAllocs()
	for b.Loop() {
		sl.w.round(events[:])
	}
}
