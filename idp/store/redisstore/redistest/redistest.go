package redistest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ncp-sso/idp/certs/certstest"

	"github.com/redis/go-redis/v9"
)

const (
	installHint  = "apt-get install redis-server"
	startTimeout = 10 * time.Second
	stopTimeout  = 5 * time.Second
	startTries   = 5
)

var errPortTaken = errors.New("redistest: port taken")

// Server is one running redis-server (or sentinel) process.
type Server struct {
	// Addr is the loopback host:port it listens on.
	Addr string
	// Password is the requirepass of the server ("" for none).
	Password string
	// CAFile is the PEM CA of its certificate when started WithTLS.
	CAFile string
	// Dir is its working directory (config, log, AOF).
	Dir string

	bin      string
	conf     string
	logFile  string
	sentinel bool
	tls      bool
	roots    *x509.CertPool // the pool of CAFile when tls

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	stopped bool
}

// Option configures Start.
type Option func(*options)

type options struct {
	password string
	tls      bool
	lines    []string
}

// WithPassword sets requirepass (and masterauth, so replicas of a
// password-protected master can use the same option).
func WithPassword(p string) Option { return func(o *options) { o.password = p } }

// WithTLS serves TLS only (tls-port), with a throwaway CA in Server.CAFile.
func WithTLS() Option { return func(o *options) { o.tls = true } }

// WithConfig appends redis.conf lines, e.g. "appendonly yes".
func WithConfig(lines ...string) Option {
	return func(o *options) { o.lines = append(o.lines, lines...) }
}

// Start runs a standalone redis-server.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	return start(tb, false, nil, opts)
}

// StartReplica runs a redis-server that replicates master, and waits until
// the initial synchronisation is done.
func StartReplica(tb testing.TB, master *Server, opts ...Option) *Server {
	tb.Helper()
	host, port, _ := net.SplitHostPort(master.Addr)
	lines := []string{"replicaof " + host + " " + port}
	if master.Password != "" {
		lines = append(lines, "masterauth "+strconv.Quote(master.Password))
	}
	s := start(tb, false, lines, opts)
	s.waitFor(tb, "replication link up", func(ctx context.Context, c *redis.Client) bool {
		info, err := c.Info(ctx, "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	return s
}

// StartSentinel runs a sentinel that monitors master under name, with a
// quorum of two and short timeouts (master down after 1s without answer),
// so that a failover on loopback completes within a few seconds.
func StartSentinel(tb testing.TB, name string, master *Server) *Server {
	tb.Helper()
	host, port, _ := net.SplitHostPort(master.Addr)
	lines := []string{
		fmt.Sprintf("sentinel monitor %s %s %s 2", name, host, port),
		fmt.Sprintf("sentinel down-after-milliseconds %s 1000", name),
		fmt.Sprintf("sentinel failover-timeout %s 4000", name),
		fmt.Sprintf("sentinel parallel-syncs %s 1", name),
	}
	if master.Password != "" {
		lines = append(lines, fmt.Sprintf("sentinel auth-pass %s %s", name, strconv.Quote(master.Password)))
	}
	return start(tb, true, lines, nil)
}

func start(tb testing.TB, sentinel bool, lines []string, opts []Option) *Server {
	tb.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	s := &Server{
		Dir:      tb.TempDir(),
		Password: o.password,
		bin:      requireRedis(tb),
		sentinel: sentinel,
		tls:      o.tls,
	}
	s.conf = filepath.Join(s.Dir, "redis.conf")
	s.logFile = filepath.Join(s.Dir, "redis.log")
	var tlsLines []string
	if o.tls {
		ca, cert, key, err := certstest.WriteServerFiles(s.Dir, "redistest CA", nil, nil)
		if err != nil {
			tb.Fatal(err)
		}
		s.CAFile = ca
		if s.roots, err = certstest.ReadPool(ca); err != nil {
			tb.Fatal(err)
		}
		tlsLines = []string{"tls-cert-file " + cert, "tls-key-file " + key, "tls-ca-cert-file " + ca, "tls-auth-clients no"}
	}
	var err error
	for range startTries {
		var port int
		if port, err = freePort(); err != nil {
			tb.Fatal(err)
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		conf := s.config(port, o, append(append(lines, tlsLines...), o.lines...))
		if err = os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
			tb.Fatal(err)
		}
		if err = s.run(); !errors.Is(err, errPortTaken) {
			break
		}
	}
	if err != nil {
		tb.Fatalf("redistest: %v\nredis log:\n%s", err, s.Log())
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// requireRedis returns the redis-server binary or ends the test.
func requireRedis(tb testing.TB) string {
	tb.Helper()
	if path, err := exec.LookPath("redis-server"); err == nil {
		return path
	}
	msg := "redistest: redis-server not found; run: " + installHint
	// CI and `make test` (IDP_REQUIRE_PEERS) must run these tests: a
	// missing redis-server is a failure there, not a silent skip.
	if os.Getenv("CI") != "" || os.Getenv("IDP_REQUIRE_PEERS") != "" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
	return ""
}

func (s *Server) config(port int, o options, extra []string) string {
	lines := []string{
		"bind 127.0.0.1",
		"dir " + s.Dir,
		"logfile " + s.logFile,
		"daemonize no",
	}
	if o.tls {
		lines = append(lines, "port 0", "tls-port "+strconv.Itoa(port))
	} else {
		lines = append(lines, "port "+strconv.Itoa(port))
	}
	if !s.sentinel {
		// No RDB snapshots (tests that want persistence ask for AOF), and
		// replicas sync at once instead of after the default 5s delay.
		lines = append(lines, `save ""`, "repl-diskless-sync-delay 0")
		if o.password != "" {
			lines = append(lines, "requirepass "+strconv.Quote(o.password), "masterauth "+strconv.Quote(o.password))
		}
	}
	return strings.Join(append(lines, extra...), "\n") + "\n"
}

// run starts the process with the written config and waits for PING.
func (s *Server) run() error {
	_ = os.Remove(s.logFile)
	args := []string{s.conf}
	if s.sentinel {
		args = append(args, "--sentinel")
	}
	cmd := exec.Command(s.bin, args...)
	// Errors before the log file is open (a bad config line) go to stderr.
	out, err := os.Create(s.logFile + ".stderr")
	if err != nil {
		return err
	}
	defer out.Close() // the child has its own descriptor
	cmd.Stdout, cmd.Stderr = out, out
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited, s.stopped = cmd, exited, false
	s.mu.Unlock()

	c := s.newClient()
	defer c.Close()
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			if strings.Contains(s.Log(), "Address already in use") {
				return errPortTaken
			}
			return fmt.Errorf("redis-server exited during start: %v", cmd.ProcessState)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			_ = s.Stop()
			return fmt.Errorf("redis-server did not answer within %v: %w", startTimeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newClient is a plain client for this one process (no sentinel logic).
func (s *Server) newClient() *redis.Client {
	opt := &redis.Options{
		Addr: s.Addr, Password: s.Password,
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: time.Second,
		MaxRetries: -1, DisableIdentity: true, PoolSize: 2,
	}
	if s.sentinel {
		opt.Password = ""
	}
	if s.tls {
		opt.TLSConfig = &tls.Config{RootCAs: s.roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	}
	return redis.NewClient(opt)
}

// Client returns a client connected to this process only, closed at cleanup.
func (s *Server) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := s.newClient()
	tb.Cleanup(func() { c.Close() })
	return c
}

// waitFor polls cond with a fresh client until it holds or startTimeout passes.
func (s *Server) waitFor(tb testing.TB, what string, cond func(context.Context, *redis.Client) bool) {
	tb.Helper()
	c := s.newClient()
	defer c.Close()
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		ok := cond(ctx, c)
		cancel()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: %s (%s): not within %v\nlog:\n%s", s.Addr, what, startTimeout, s.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitSentinelReady waits until this sentinel knows the given number of
// replicas and other sentinels of the group name, so a failover can start.
func (s *Server) WaitSentinelReady(tb testing.TB, name string, replicas, others int) {
	tb.Helper()
	s.waitFor(tb, "sentinel sees its group", func(ctx context.Context, c *redis.Client) bool {
		m, err := c.Do(ctx, "SENTINEL", "MASTER", name).Result()
		if err != nil {
			return false
		}
		f := fields(m)
		return f["num-slaves"] == strconv.Itoa(replicas) && f["num-other-sentinels"] == strconv.Itoa(others)
	})
}

// fields flattens a RESP2 list or RESP3 map reply of string pairs.
func fields(v any) map[string]string {
	out := map[string]string{}
	switch r := v.(type) {
	case []any:
		for i := 0; i+1 < len(r); i += 2 {
			out[fmt.Sprint(r[i])] = fmt.Sprint(r[i+1])
		}
	case map[any]any:
		for k, v := range r {
			out[fmt.Sprint(k)] = fmt.Sprint(v)
		}
	}
	return out
}

// PID is the process ID of the running process (0 when stopped).
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.stopped {
		return 0
	}
	return s.cmd.Process.Pid
}

// Stop terminates the process (SIGTERM, then SIGKILL after a grace period).
// It is idempotent and also runs at cleanup.
func (s *Server) Stop() error { return s.signal(syscall.SIGTERM) }

// Kill ends the process with SIGKILL: no shutdown, no final write.
func (s *Server) Kill() error { return s.signal(syscall.SIGKILL) }

func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || s.cmd == nil {
		return nil
	}
	s.stopped = true
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
		return nil
	case <-time.After(stopTimeout):
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	return fmt.Errorf("redistest: redis-server (pid %d) ignored %v for %v and was killed", s.cmd.Process.Pid, sig, stopTimeout)
}

// Restart starts the stopped process again on the same address, with the
// same directory (and so the same AOF, when enabled).
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	if err := s.Stop(); err != nil {
		tb.Fatal(err)
	}
	if err := s.run(); err != nil {
		tb.Fatalf("redistest: restart: %v\nlog:\n%s", err, s.Log())
	}
}

// Log returns the process's log file.
func (s *Server) Log() string {
	b, err := os.ReadFile(s.logFile)
	if err != nil {
		b = []byte("(no log: " + err.Error() + ")\n")
	}
	errOut, _ := os.ReadFile(s.logFile + ".stderr")
	return string(b) + string(errOut)
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("redistest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
