package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/ncp-sso/idp/idp"
)

// Config is the `audit:` section.
type Config struct {
	// File receives every sign-in event as a JSON line: a path (appended
	// to, created mode 0600), "-" for standard output, or empty for none.
	// Default empty.
	File string `yaml:"file"`
	// Retention is how long events stay in the state store for the admin
	// page. Default 720h (30 days); at least 1h, at most 8784h (366 days).
	Retention time.Duration `yaml:"retention"`
}

// DefaultRetention is Config.Retention's default.
const DefaultRetention = 720 * time.Hour

// SetDefaults fills zero values.
func (c *Config) SetDefaults() {
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
}

// Validate reports every problem at once.
func (c *Config) Validate() idp.Problems {
	var ps idp.Problems
	if c.Retention < time.Hour || c.Retention > 8784*time.Hour {
		ps.Addf("retention", "must be between 1h and 8784h (366 days), e.g. 720h")
	}
	return ps
}

// Auditor receives one event per sign-in outcome.
type Auditor interface {
	Audit(ctx context.Context, e idp.AuditEvent)
}

// Tee returns an Auditor that hands every event to each of as in turn
// (nil entries are skipped).
func Tee(as ...Auditor) Auditor {
	var out tee
	for _, a := range as {
		if a != nil {
			out = append(out, a)
		}
	}
	return out
}

type tee []Auditor

func (t tee) Audit(ctx context.Context, e idp.AuditEvent) {
	for _, a := range t {
		a.Audit(ctx, e)
	}
}

// Flush waits for the pending writes of every Auditor that has a Flush.
func (t tee) Flush() {
	for _, a := range t {
		if f, ok := a.(interface{ Flush() }); ok {
			f.Flush()
		}
	}
}

// maxPendingStores bounds the events being written to the store at once;
// Audit waits when that many are pending, so a slow store slows sign-ins
// down rather than dropping events or growing memory without bound.
const maxPendingStores = 256

// storeBatchWait is how long an event waits for others before its store
// write starts. Events that start together share a commit (in the bolt
// store an event is one write; in Redis four operations in a row), so with
// one sign-in every few milliseconds the disk syncs for several events at
// a time instead of once per event (the sign-in itself never waits for
// this).
const storeBatchWait = 25 * time.Millisecond

// gate releases everyone who waits within one storeBatchWait together.
type gate struct {
	mu   sync.Mutex
	open chan struct{}
}

func (g *gate) wait() {
	g.mu.Lock()
	ch := g.open
	if ch == nil {
		ch = make(chan struct{})
		g.open = ch
		time.AfterFunc(storeBatchWait, func() {
			g.mu.Lock()
			g.open = nil
			g.mu.Unlock()
			close(ch)
		})
	}
	g.mu.Unlock()
	<-ch
}

// Log keeps events in an idp.AuditStore and writes them as JSON lines.
//
// The JSON line is written before Audit returns. The store write runs in
// the background (at most maxPendingStores at once, in batches that start
// together every storeBatchWait), so a sign-in does not wait for the store
// write of its event: the admin page may show an event some tens
// of milliseconds after the sign-in finished, and a crash loses the events
// of those last milliseconds from the store (not from the file). Flush and
// Close wait for pending writes.
type Log struct {
	store  idp.AuditStore
	path   string
	stdout io.Writer
	log    *slog.Logger

	pending chan struct{}
	writes  sync.WaitGroup
	batch   gate

	mu sync.Mutex
	w  io.Writer
	f  *os.File
}

var _ Auditor = (*Log)(nil)

// Options of New. Nil fields mean: no store, os.Stdout, a discarding logger.
type Options struct {
	// Store keeps the events for the admin page.
	Store idp.AuditStore
	// File is Config.File.
	File string
	// Stdout is where File "-" writes.
	Stdout io.Writer
	Logger *slog.Logger
}

// New opens the JSON-lines file, if any.
func New(o Options) (*Log, error) {
	l := &Log{store: o.Store, path: o.File, stdout: o.Stdout, log: o.Logger, pending: make(chan struct{}, maxPendingStores)}
	if l.stdout == nil {
		l.stdout = os.Stdout
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if err := l.Reopen(); err != nil {
		return nil, err
	}
	return l, nil
}

// Reopen (re)opens the JSON-lines file, so that a rotated file is
// replaced by a new one. On failure the previous file stays in use.
func (l *Log) Reopen() error {
	switch l.path {
	case "":
		return nil
	case "-":
		l.mu.Lock()
		l.w = l.stdout
		l.mu.Unlock()
		return nil
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit: open %s: %w", l.path, err)
	}
	l.mu.Lock()
	old := l.f
	l.f, l.w = f, f
	l.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	return nil
}

// Flush waits until every event handed to Audit so far is in the store.
func (l *Log) Flush() { l.writes.Wait() }

// Close waits for pending store writes, then closes the file.
func (l *Log) Close() error {
	l.Flush()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w = nil
	if l.f != nil {
		err := l.f.Close()
		l.f = nil
		return err
	}
	return nil
}

// Audit writes e as one JSON line and stores it in the background.
func (l *Log) Audit(ctx context.Context, e idp.AuditEvent) {
	if l.store != nil {
		l.pending <- struct{}{}
		l.writes.Add(1)
		// The sign-in may have been cancelled by the browser, and its
		// request is over before this runs; its record must still be
		// written.
		sctx := context.WithoutCancel(ctx)
		go func() {
			defer func() { <-l.pending; l.writes.Done() }()
			l.batch.wait()
			sctx, cancel := context.WithTimeout(sctx, 5*time.Second)
			defer cancel()
			if err := l.store.PutAudit(sctx, e); err != nil {
				l.log.Error("audit_store_failed", "request_id", e.RequestID, "err", err)
			}
		}()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == nil {
		return
	}
	line, err := json.Marshal(e)
	if err != nil {
		l.log.Error("audit_encode_failed", "request_id", e.RequestID, "err", err)
		return
	}
	// One Write per line: O_APPEND keeps concurrent lines whole.
	if _, err := l.w.Write(append(line, '\n')); err != nil {
		l.log.Error("audit_write_failed", "request_id", e.RequestID, "err", err)
	}
}
