//go:build linux

package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// spPair is a marked server-side spConn and the client's end.
func spPair(t *testing.T) (*spListener, *spConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sl := wrapListener(ln).(*spListener)
	t.Cleanup(func() { sl.Close() })
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	c, err := sl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	sc := c.(*spConn)
	t.Cleanup(func() { sc.Close() })
	sc.markBackChannel()
	return sl, sc, client
}

type readResult struct {
	s   string
	err error
	at  time.Time
}

func readAsync(c *spConn) <-chan readResult {
	out := make(chan readResult, 1)
	go func() {
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		out <- readResult{string(buf[:n]), err, time.Now()}
	}()
	for !c.reading.Load() {
		runtime.Gosched()
	}
	return out
}

// TestSPConnKickIsInvisible: a kick wakes the parked Read, which goes back
// to waiting when nothing has arrived and returns the data once it has;
// the caller never sees the watcher's deadline.
func TestSPConnKickIsInvisible(t *testing.T) {
	_, c, client := spPair(t)
	res := readAsync(c)
	if !c.kick() {
		t.Fatal("kick of a parked Read did nothing")
	}
	select {
	case r := <-res:
		t.Fatalf("Read returned after a kick with nothing to read: %q, %v", r.s, r.err)
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := client.Write([]byte("POST /oauth/token")); err != nil {
		t.Fatal(err)
	}
	r := <-res
	if r.err != nil || r.s != "POST /oauth/token" {
		t.Fatalf("Read = %q, %v", r.s, r.err)
	}
	if c.kick() {
		t.Error("kick with no Read in progress did something")
	}
}

// TestSPConnDeadlinesStillHold: net/http's deadlines end a Read as before,
// kicked or not: a deadline in the future after it passes, one in the past
// (how net/http stops its background read) at once.
func TestSPConnDeadlinesStillHold(t *testing.T) {
	_, c, _ := spPair(t)
	start := time.Now()
	if err := c.SetReadDeadline(start.Add(150 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	res := readAsync(c)
	c.kick()
	r := <-res
	if !errors.Is(r.err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read after its deadline = %q, %v; want a timeout", r.s, r.err)
	}
	if r.at.Before(start.Add(150 * time.Millisecond)) {
		t.Errorf("Read ended %v after start, before its deadline", r.at.Sub(start))
	}

	if err := c.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	res = readAsync(c)
	c.kick()
	if err := c.SetReadDeadline(time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-res:
		if !errors.Is(r.err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read after its deadline moved to the past = %q, %v; want a timeout", r.s, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a deadline in the past did not end the Read")
	}
}

// TestSPConnWatcherUnderLoad: an HTTP server on the wrapped listener whose
// handler marks its connection, with every processor kept busy: four SPs'
// kept-alive requests (one SP dropping its connections now and then) are
// all answered, and the watcher is what woke some of them (with the
// processors busy the runtime seldom looks at the network itself).
func TestSPConnWatcherUnderLoad(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sl := wrapListener(ln).(*spListener)
	hs := &http.Server{
		ConnContext: withConn,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			markBackChannel(r.Context())
			body, _ := io.ReadAll(r.Body)
			_, _ = w.Write([]byte("ok " + string(body)))
		}),
		ReadTimeout: 5 * time.Second,
		IdleTimeout: 5 * time.Second,
	}
	go func() { _ = hs.Serve(sl) }()
	defer hs.Shutdown(context.Background())

	var stop atomic.Bool
	defer stop.Store(true)
	for range runtime.GOMAXPROCS(0) * 4 {
		go func() {
			for !stop.Load() {
				for i := 0; i < 20000; i++ {
					_ = i * i
				}
				runtime.Gosched()
			}
		}()
	}
	// Four SP servers at once, each on its own kept-alive connection; one
	// of them drops its connections now and then.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for sp := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			client := &http.Client{Transport: tr}
			for i := range 75 {
				if sp == 0 && i%10 == 9 {
					tr.CloseIdleConnections()
				}
				resp, err := client.Post("http://"+ln.Addr().String()+"/oauth/token", "text/plain", strings.NewReader("code"))
				if err != nil {
					errs <- fmt.Errorf("SP %d request %d: %w", sp, i, err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || string(body) != "ok code" {
					errs <- fmt.Errorf("SP %d request %d: %d %q", sp, i, resp.StatusCode, body)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("watcher woke %d of 300 requests", sl.w.kicks.Load())
	if sl.w.kicks.Load() == 0 {
		t.Error("the watcher woke no request in 300, with every processor busy")
	}
}
