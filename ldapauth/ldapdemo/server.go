package ldapdemo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jimlambrt/gldap"
)

// DefaultAddr is where the server listens unless WithAddr says otherwise: a
// free port on the IPv4 loopback interface.
const DefaultAddr = "127.0.0.1:0"

const (
	// startTimeout bounds how long Start waits for the directory to answer.
	startTimeout = 5 * time.Second
	// backendAttempts is how often Start retries when another process takes
	// the internal port between choosing it and listening on it.
	backendAttempts = 5
	// dialTimeout bounds a loopback dial from the relay to the directory.
	dialTimeout = 5 * time.Second
)

// Option configures a Server.
type Option func(*options)

type options struct {
	addr string
	log  *slog.Logger
}

// WithAddr sets the host:port to listen on. Default DefaultAddr. Port 0
// picks a free port; URL reports the one chosen.
func WithAddr(addr string) Option {
	return func(o *options) { o.addr = addr }
}

// WithLogger sets the logger for bind outcomes (at Debug) and relay errors.
// Default: nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// Server is a running demo directory. Close stops it.
type Server struct {
	dir      *Directory
	log      *slog.Logger
	sessions *sessions
	ln       net.Listener // public, relayed to backend

	backend      *gldap.Server
	backendAddr  string
	backendDone  chan error // receives gldap's Run result
	backendConns *connCount // connections made to and closed by gldap

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // open client and backend connections
	closed bool
	wg     sync.WaitGroup // accept loop and relays

	stopAfterFunc func() bool
	closeOnce     sync.Once
	closeErr      error
}

// Start loads the LDIF file and serves it; see StartDirectory.
func Start(ctx context.Context, ldifPath string, opts ...Option) (*Server, error) {
	dir, err := LoadFile(ldifPath)
	if err != nil {
		return nil, err
	}
	return StartDirectory(ctx, dir, opts...)
}

// StartDirectory serves the directory until Close is called or ctx is done.
// When it returns, the server accepts connections at URL.
func StartDirectory(ctx context.Context, dir *Directory, opts ...Option) (*Server, error) {
	if dir == nil {
		return nil, errors.New("ldapdemo: nil directory")
	}
	o := options{addr: DefaultAddr, log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	sess := &sessions{bound: make(map[int]string)}
	h := &handlers{dir: dir, sessions: sess, log: o.log}
	mux, err := h.mux()
	if err != nil {
		return nil, fmt.Errorf("ldapdemo: routes: %w", err)
	}
	s := &Server{dir: dir, log: o.log, sessions: sess, conns: make(map[net.Conn]struct{})}
	if err := s.startBackend(ctx, mux, sess); err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	s.ln, err = lc.Listen(ctx, "tcp", o.addr)
	if err != nil {
		s.stopBackend(false)
		return nil, fmt.Errorf("ldapdemo: listen: %w", err)
	}
	s.wg.Go(s.accept)
	s.stopAfterFunc = context.AfterFunc(ctx, func() { _ = s.Close() })
	return s, nil
}

// URL returns the server's address as an ldap:// URL.
func (s *Server) URL() string { return "ldap://" + s.Addr() }

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Directory returns the served directory, which describes the demo.
func (s *Server) Directory() *Directory { return s.dir }

// Close stops listening, closes every client connection and returns once
// all of the server's goroutines have ended. It is safe to call more than
// once and from several goroutines.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.stopAfterFunc()
		s.mu.Lock()
		s.closed = true
		conns := make([]net.Conn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()

		err := s.ln.Close()
		for _, c := range conns {
			_ = c.Close()
		}
		s.wg.Wait()
		s.closeErr = errors.Join(err, s.stopBackend(false))
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("ldapdemo: close: %w", s.closeErr)
		}
	})
	return s.closeErr
}

// startBackend runs gldap on a free loopback port. gldap cannot listen on
// port 0 and report the port, so a free port is chosen first; if another
// process takes it in between, gldap's Run fails and a new port is tried.
func (s *Server) startBackend(ctx context.Context, mux *gldap.Mux, sess *sessions) error {
	var lastErr error
	for range backendAttempts {
		// The first connection gldap reports closed is the probe below,
		// proving that the port is gldap's and not another process's.
		probed := make(chan struct{})
		var probeOnce sync.Once
		count := &connCount{}
		srv, err := gldap.NewServer(
			gldap.WithLogger(hclog.NewNullLogger()),
			gldap.WithOnClose(func(connID int) {
				sess.set(connID, "")
				count.add(0, 1)
				probeOnce.Do(func() { close(probed) })
			}),
		)
		if err != nil {
			return fmt.Errorf("ldapdemo: new server: %w", err)
		}
		if err := srv.Router(mux); err != nil {
			return fmt.Errorf("ldapdemo: router: %w", err)
		}
		addr, err := freeLoopbackAddr()
		if err != nil {
			return err
		}
		s.backend, s.backendAddr, s.backendDone, s.backendConns = srv, addr, make(chan error, 1), count
		go func() { s.backendDone <- srv.Run(addr) }()

		exited, err := waitBackend(ctx, addr, probed, s.backendDone)
		if err == nil {
			count.add(1, 0) // the probe
			return nil
		}
		lastErr = err
		if stopErr := s.stopBackend(exited); stopErr != nil {
			lastErr = errors.Join(lastErr, stopErr)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("ldapdemo: start directory: %w", lastErr)
}

// waitBackend waits until gldap has accepted and closed a probe connection.
// exited reports that Run has returned (its result was consumed).
func waitBackend(ctx context.Context, addr string, probed <-chan struct{}, done <-chan error) (exited bool, err error) {
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	dialed := false
	for {
		if !dialed {
			if c, err := net.DialTimeout("tcp", addr, dialTimeout); err == nil {
				_ = c.Close()
				dialed = true
			}
		}
		select {
		case <-probed:
			return false, nil
		case err := <-done:
			if err == nil {
				err = errors.New("stopped while starting")
			}
			return true, err
		case <-ctx.Done():
			return false, ctx.Err()
		case <-deadline.C:
			return false, errors.New("timed out waiting for the directory to listen")
		case <-tick.C:
		}
	}
}

// stopBackend stops gldap and waits for Run to return, unless it already
// has (exited).
func (s *Server) stopBackend(exited bool) error {
	if exited {
		return nil
	}
	// gldap's Stop only closes a listener that Run has already opened; wait
	// for Run to get that far so the listening socket is not leaked.
	for !s.backend.Ready() {
		select {
		case err := <-s.backendDone:
			return err
		case <-time.After(time.Millisecond):
		}
	}
	// gldap's accept loop calls WaitGroup.Add for each connection, which
	// must not run concurrently with the Wait in Stop: wait until gldap has
	// accepted and finished every connection the relays made.
	s.backendConns.waitClosed(dialTimeout)
	err := s.backend.Stop()
	if runErr := <-s.backendDone; runErr != nil {
		err = errors.Join(err, runErr)
	}
	return err
}

// freeLoopbackAddr returns a loopback address whose port was free a moment
// ago.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("ldapdemo: find free port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("ldapdemo: find free port: %w", err)
	}
	return addr, nil
}

// accept relays each client connection until the listener is closed.
func (s *Server) accept() {
	backoff := time.Duration(0)
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait and retry, as
			// net/http does, instead of giving up on all future clients.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Error("ldapdemo accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !s.track(c) {
			_ = c.Close()
			return
		}
		s.wg.Go(func() { s.relay(c) })
	}
}

// relay copies one client connection to gldap and back. It ends when gldap
// closes its side (after the client closed, unbound, or sent something gldap
// cannot parse) or when Close closes both connections.
func (s *Server) relay(client net.Conn) {
	defer s.untrack(client)
	defer client.Close()
	backend, err := net.DialTimeout("tcp", s.backendAddr, dialTimeout)
	if err != nil {
		s.log.Error("ldapdemo relay dial failed", "err", err)
		return
	}
	s.backendConns.add(1, 0)
	if !s.track(backend) {
		_ = backend.Close()
		return
	}
	defer s.untrack(backend)

	var toBackend sync.WaitGroup
	toBackend.Go(func() {
		_, _ = io.Copy(backend, client)
		// Let gldap finish the requests it has read, then close.
		if tc, ok := backend.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	})
	_, _ = io.Copy(client, backend)
	_ = client.Close()
	_ = backend.Close()
	toBackend.Wait()
}

// track registers an open connection so Close can cut it; it reports false
// once the server is closing.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// connCount counts connections opened to gldap and closed by it.
type connCount struct {
	mu             sync.Mutex
	opened, closed int
}

func (c *connCount) add(opened, closed int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opened += opened
	c.closed += closed
}

// waitClosed waits until gldap has closed as many connections as were
// opened, or the timeout passes.
func (c *connCount) waitClosed(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		done := c.closed >= c.opened
		c.mu.Unlock()
		if done {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
