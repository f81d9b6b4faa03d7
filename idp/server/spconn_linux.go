//go:build linux

package server

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ncp-sso/idp/idp/runq"
)

// The SP's token and userinfo calls, ahead of the browsers.
//
// On a busy processor Go's runtime reads the network only when a processor
// runs out of work, or every 10 ms from its monitor thread
// (golang/go#51651), and then queues all the goroutines it found at the
// back of the run queue, behind every login page in progress. An SP's
// token call that the IdP answers in well under a millisecond so waited
// 10 ms and more at the 99th percentile (idpbench, 64 browsers on one
// core; a loopback packet capture put the time inside the IdP process).
//
// So a connection that has carried an SP's call is watched: every
// watchBusy, one epoll_wait (no waiting) over the watched connections finds
// those whose next request has arrived while their goroutine is still
// parked in Read, and the watcher moves that connection's read deadline
// into the past. The runtime then readies the parked goroutine on the
// watcher's own processor as the next goroutine to run (deadline wake-ups
// take the run queue's front slot), and Read puts net/http's deadline
// back and reads the request. Browsers' connections are never watched.

// The watcher's period: watchBusy while any goroutine waits for a
// processor (the longest an SP's request then waits to be noticed; a
// round is one epoll_wait, whatever the number of connections), watchIdle
// otherwise, when the runtime notices arriving requests at once by itself
// and the watcher mostly checks whether that is still so: short enough to
// catch the start of a burst, about 0.2 % of an idle processor.
const (
	watchBusy = 200 * time.Microsecond
	watchIdle = time.Millisecond
	// busyRunnable goroutines waiting for a processor make it busy.
	busyRunnable = 1
)

// spListener hands out connections that can be marked as an SP's.
type spListener struct {
	net.Listener
	w *spWatcher
}

func wrapListener(ln net.Listener) net.Listener {
	return &spListener{Listener: ln, w: newSPWatcher()}
}

func (l *spListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return c, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		return &spConn{TCPConn: tc, w: l.w}, nil
	}
	return c, nil
}

// Close stops the watcher too.
func (l *spListener) Close() error {
	l.w.stop()
	return l.Listener.Close()
}

// spWatcher is the goroutine that watches the marked connections. They
// are registered in an epoll instance of its own, so that a round costs
// one epoll_wait that returns only the connections with data waiting,
// however many are watched.
type spWatcher struct {
	mu      sync.Mutex
	epfd    int               // -1 until the first connection is marked
	conns   map[int32]*spConn // descriptor -> marked connection
	running bool
	stopped bool
	wake    chan struct{} // a connection was added
	done    chan struct{} // closed by stop
	kicks   atomic.Int64  // for tests: parked reads woken
}

func newSPWatcher() *spWatcher {
	return &spWatcher{epfd: -1, conns: map[int32]*spConn{}, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func (w *spWatcher) add(c *spConn) {
	raw, err := c.TCPConn.SyscallConn()
	if err != nil {
		return
	}
	fd := -1
	if raw.Control(func(f uintptr) { fd = int(f) }) != nil || fd < 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	if w.epfd < 0 {
		if w.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
			w.epfd = -1
			return
		}
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	if unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev) != nil {
		return
	}
	c.fd = int32(fd)
	w.conns[c.fd] = c
	if !w.running {
		w.running = true
		go w.loop()
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// remove forgets c; the caller closes it afterwards, so the descriptor
// leaves the epoll instance before its number can belong to another file.
func (w *spWatcher) remove(c *spConn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conns[c.fd] != c {
		return
	}
	delete(w.conns, c.fd)
	if w.epfd >= 0 {
		_ = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, int(c.fd), nil)
	}
}

func (w *spWatcher) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.stopped = true
		close(w.done)
		if w.epfd >= 0 {
			_ = unix.Close(w.epfd)
			w.epfd = -1
		}
	}
}

func (w *spWatcher) loop() {
	var events [64]unix.EpollEvent
	waiting := runq.Reader()
	t := time.NewTimer(watchBusy)
	defer t.Stop()
	for {
		w.mu.Lock()
		n := len(w.conns)
		w.mu.Unlock()
		if n == 0 {
			// Nothing to watch: sleep until a connection is marked.
			select {
			case <-w.wake:
			case <-w.done:
				return
			}
			continue
		}
		select {
		case <-t.C:
		case <-w.done:
			return
		}
		w.round(events[:])
		if waiting() >= busyRunnable {
			t.Reset(watchBusy)
		} else {
			t.Reset(watchIdle)
		}
	}
}

// round wakes the parked reader of each watched connection that has data
// waiting (epoll_wait without waiting; events is scratch space).
func (w *spWatcher) round(events []unix.EpollEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.epfd < 0 {
		return
	}
	n, err := unix.EpollWait(w.epfd, events, 0)
	if err != nil {
		return
	}
	for _, ev := range events[:n] {
		if c := w.conns[ev.Fd]; c != nil && c.kick() {
			w.kicks.Add(1)
		}
	}
}

// spConn is a TCP connection that is watched once marked as an SP's.
type spConn struct {
	*net.TCPConn
	w *spWatcher

	marked  atomic.Bool
	reading atomic.Bool // a Read is in progress
	fd      int32       // the descriptor, once marked (the watcher's key)

	mu       sync.Mutex
	kicked   bool      // the read deadline is the watcher's, not net/http's
	deadline time.Time // net/http's read deadline

	pieces heldWrites // a page's writes, held to leave in one piece (onePiece)
}

func (c *spConn) Write(p []byte) (int, error) { return c.pieces.write(c.TCPConn, p) }
func (c *spConn) holdWrites()                 { c.pieces.hold() }
func (c *spConn) releaseWrites() error        { return c.pieces.release(c.TCPConn) }

// markBackChannel starts watching c (once).
func (c *spConn) markBackChannel() {
	if c.marked.CompareAndSwap(false, true) {
		c.w.add(c)
	}
}

// kick wakes the Read parked on c by moving the read deadline into the
// past; it reports whether it did.
func (c *spConn) kick() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.reading.Load() || c.kicked {
		return false
	}
	c.kicked = true
	_ = c.TCPConn.SetReadDeadline(time.Unix(1, 0))
	return true
}

func (c *spConn) Read(p []byte) (int, error) {
	if !c.marked.Load() {
		// Browsers' connections: a plain read. (A read that began before
		// its connection was marked is never kicked: reading stays false.)
		return c.TCPConn.Read(p)
	}
	for {
		c.reading.Store(true)
		n, err := c.TCPConn.Read(p)
		c.reading.Store(false)
		c.mu.Lock()
		if !c.kicked {
			c.mu.Unlock()
			return n, err
		}
		// Woken by the watcher: put net/http's deadline back, then read
		// what arrived, unless that deadline has passed meanwhile.
		c.kicked = false
		_ = c.TCPConn.SetReadDeadline(c.deadline)
		again := err != nil && errors.Is(err, os.ErrDeadlineExceeded) &&
			(c.deadline.IsZero() || time.Now().Before(c.deadline))
		c.mu.Unlock()
		if !again {
			return n, err
		}
	}
}

func (c *spConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline, c.kicked = t, false
	return c.TCPConn.SetReadDeadline(t)
}

func (c *spConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline, c.kicked = t, false
	return c.TCPConn.SetDeadline(t)
}

func (c *spConn) Close() error {
	if c.marked.Load() {
		c.w.remove(c)
	}
	return c.TCPConn.Close()
}

var _ pieceHolder = (*spConn)(nil)
