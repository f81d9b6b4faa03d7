package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"slices"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/audit"
	"github.com/ncp-sso/idp/idp/config"
	"github.com/ncp-sso/idp/idp/metrics"
	"github.com/ncp-sso/idp/idp/server"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/boltstore"
	"github.com/ncp-sso/idp/idp/store/memory"
	"github.com/ncp-sso/idp/idp/store/redisstore"
	"github.com/ncp-sso/idp/idp/throttle"
	"github.com/ncp-sso/idp/ldapauth"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "path to the YAML configuration file (required; see idp.example.yaml)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: idp serve --config FILE

Runs the identity provider: the company login page, the SSO endpoints of the
configured modes, /admin, /healthz and /readyz, and Prometheus /metrics on
metrics.listen. Stops gracefully on SIGTERM or Ctrl-C. On SIGHUP it reads FILE
again and reloads the TLS serving certificate, the page and message files, and
reopens the audit file; the log says what else changed and needs a restart.

Flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if *path == "" {
		fmt.Fprintln(stderr, "idp serve: --config FILE is required (start from idp.example.yaml, or try 'idp demo')")
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "idp serve: %s: %v\n", *path, err)
		return 1
	}
	lines := newLogBatch(stderr)
	defer lines.Flush()
	log := newLogger(cfg.Log, lines)
	lessGC(log)
	if err := serve(ctx, cfg, *path, log, nil); err != nil {
		log.Error("server_stopped", "err", err)
		return 1
	}
	return 0
}

// gcPercent is the garbage collector's GOGC unless the operator set GOGC.
// The IdP's live heap is small (a few MiB: sessions, codes and tokens live
// in the store file, not on the heap), while an OAuth login allocates about
// 160 KiB (LDAP packets, bbolt nodes, HTTP headers), so with Go's default
// of 100 the collector runs many times a second under load. Measured with
// make bench (OAuth, 64 browsers, three interleaved rounds against 100):
// IdP CPU per login 0.87-1.07 -> 0.75-0.88 ms; RSS after 10,000 sessions
// 54-57 -> 60-64 MiB (anonymous 15-18 -> 21-25 MiB).
const gcPercent = 200

// lessGC sets gcPercent unless GOGC is set in the environment.
func lessGC(log *slog.Logger) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
		log.Debug("gc_percent_set", "gogc", gcPercent)
	}
}

// storeOptions are the typed store's settings taken from the configuration.
func storeOptions(cfg *config.Config) []store.Option {
	opts := []store.Option{store.WithAuditRetention(cfg.Audit.Retention)}
	if cfg.OAuth != nil {
		opts = append(opts, store.WithSpentCodeRetention(cfg.OAuth.SpentCodeRetention))
	}
	return opts
}

// wiring is everything a running server holds, so that the caller can close it.
type wiring struct {
	srv     *server.Server
	store   idp.Store
	auth    *ldapauth.Authenticator
	audit   *audit.Log
	metrics *metrics.Metrics
	// metricsAddr is the metrics listener's address, once listening.
	metricsAddr net.Addr
}

func (w *wiring) Close() {
	if w.audit != nil {
		_ = w.audit.Close()
	}
	if w.auth != nil {
		_ = w.auth.Close()
	}
	if w.store != nil {
		_ = w.store.Close()
	}
}

// build wires the concrete types chosen by the configuration.
func build(cfg *config.Config, log *slog.Logger, links []server.Link) (*wiring, error) {
	w := &wiring{}
	var err error
	switch cfg.Store.Backend {
	case store.BackendMemory:
		w.store = store.New(memory.New(memory.WithSweepInterval(cfg.Store.SweepInterval), memory.WithLogger(log)), storeOptions(cfg)...)
	case store.BackendRedis:
		// Starts even while Redis is down: the instance answers 503 and
		// /readyz false until Redis does, then serves without a restart.
		b, oerr := redisstore.OpenConfig(cfg.Store.Redis, redisstore.WithLogger(log))
		if oerr != nil {
			return nil, oerr
		}
		w.store = store.New(b, storeOptions(cfg)...)
	default:
		b, oerr := boltstore.OpenConfig(cfg.Store, boltstore.WithLogger(log))
		if oerr != nil {
			return nil, oerr
		}
		processorsForDisk(context.Background(), b, log)
		var backend store.Backend = b
		if cfg.Store.ShortLived == store.ShortLivedMemory {
			// Flows, replay markers and counters: a crash costs a retry,
			// not a security property, so they need not wait for fsync.
			fast := memory.New(memory.WithSweepInterval(cfg.Store.SweepInterval), memory.WithLogger(log))
			backend = store.Split(b, fast, append(slices.Clone(store.ShortLivedBuckets), throttle.Bucket)...)
		}
		w.store = store.New(backend, storeOptions(cfg)...)
	}
	if w.auth, err = ldapauth.New(cfg.LDAP, ldapauth.WithLogger(log)); err != nil {
		w.Close()
		return nil, err
	}
	th, err := buildThrottle(cfg, w.store, w.auth, log)
	if err != nil {
		w.Close()
		return nil, err
	}
	w.metrics = metrics.New(nil)
	protocols, err := buildProtocols(cfg, log, w.metrics)
	if err != nil {
		w.Close()
		return nil, err
	}
	auditStore, _ := w.store.(idp.AuditStore)
	if w.audit, err = audit.New(audit.Options{Store: auditStore, File: cfg.Audit.File, Logger: log}); err != nil {
		w.Close()
		return nil, err
	}
	w.auth.SetObserver(w.metrics)
	w.srv, err = server.New(server.Options{
		Config: cfg.Server, Session: cfg.Session, Branding: cfg.Branding,
		Store: w.store, Authenticator: w.auth, Protocols: protocols,
		Links: links, Logger: log,
		Auditor: audit.Tee(w.audit, w.metrics), Observer: w.metrics,
		Admin: adminOptions(cfg), Throttle: th,
	})
	if err != nil {
		w.Close()
		return nil, err
	}
	w.certMetrics(cfg, log)
	return w, nil
}

// serve runs the server until ctx ends. ready, when not nil, is called with
// the listener's address once it accepts connections. With a path, SIGHUP
// reloads what can be reloaded from that file (reload.go).
func serve(ctx context.Context, cfg *config.Config, path string, log *slog.Logger, ready func(*wiring, net.Addr)) error {
	w, err := build(cfg, log, nil)
	if err != nil {
		return err
	}
	defer w.Close()
	if path != "" {
		stop := w.reloadOnSIGHUP(ctx, cfg, path, log)
		defer stop()
	}
	return listenAndServe(ctx, cfg, log, w, ready)
}

func listenAndServe(ctx context.Context, cfg *config.Config, log *slog.Logger, w *wiring, ready func(*wiring, net.Addr)) error {
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Server.Listen, err)
	}
	// The serving certificate is read here, not in build: only a server
	// that serves needs it (idp selftest runs its own TLS).
	if err := w.srv.ReloadTLS(); err != nil {
		ln.Close()
		return err
	}
	w.certMetrics(nil, log)
	if cfg.Metrics.Listen != "" && w.metrics != nil {
		mln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("metrics: listen on %s: %w", cfg.Metrics.Listen, err)
		}
		w.metricsAddr = mln.Addr()
		log.Info("metrics_listening", "addr", mln.Addr().String())
		go func() {
			if err := w.metrics.Serve(ctx, mln, log); err != nil {
				log.Error("metrics_stopped", "err", err)
			}
		}()
	}
	log.Info("listening", "addr", ln.Addr().String(), "public_url", cfg.Server.PublicURL, "tls", cfg.Server.TLS.Enabled())
	if ready != nil {
		ready(w, ln.Addr())
	}
	if err := w.srv.Serve(ctx, ln); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func newLogger(c config.LogConfig, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	// Lines logged with a request's context get its reference ID.
	if c.Format == "text" {
		return slog.New(server.LogHandler(slog.NewTextHandler(w, opts)))
	}
	return slog.New(server.LogHandler(slog.NewJSONHandler(w, opts)))
}
