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

// maxPendingStores bounds the events waiting for the store: Audit waits
// when that many are queued beyond those the writer is storing (at most
// as many again), so a slow store slows sign-ins down rather than
// dropping events or growing memory without bound.
const maxPendingStores = 4096

// storeBatchWait is how long the first event of a batch waits for others
// before the batch is written, in store writes of maxBatch events (in
// the bolt store one transaction each, in Redis a few operations per
// event). The per-name indexes of the events are spread across the file
// by name hash: written together rather than with each sign-in's commit,
// a rush rewrites an index page once per write instead of once per
// commit. In idpbench (OAuth, 64 browsers) batches every 250 ms,
// where each event was its own write and groups of them started every
// 25 ms, took the bolt pages written per sign-in from 3.2 to 2.1 and the
// IdP's CPU per sign-in down by 7 % (the sign-in itself never waits for
// this).
const storeBatchWait = 250 * time.Millisecond

// maxBatch bounds the events of one store write. A write holds the bolt
// store's only writer, and the processor, for its whole transaction: at
// 1,400 sign-ins/s a quarter second's events in one transaction held them
// long enough to show in the SP's token p99 (OAuth paced at 80 % in
// idpbench: 6.6-10.5 ms against 5.1-7.0 ms with writes of 64, at the same
// CPU per sign-in; writes of 16 cost 5-15 % more CPU).
const maxBatch = 64

// Log keeps events in an idp.AuditStore and writes them as JSON lines.
//
// The JSON line is written before Audit returns. The store write runs in
// the background: one writer stores the queued events in batches, one
// every storeBatchWait while events come, so a sign-in does not wait for
// the store write of its event. The admin page may show an event up to
// storeBatchWait after the sign-in finished, and a crash loses the events
// of that last moment from the store (not from the file). Flush and Close
// wait for the events handed over so far.
type Log struct {
	store  idp.AuditStore
	path   string
	stdout io.Writer
	log    *slog.Logger
	// wait is storeBatchWait (tests shorten it).
	wait time.Duration

	// writes counts the events handed over and not yet stored.
	writes sync.WaitGroup
	qmu    sync.Mutex
	// room is signalled when the writer takes the queue.
	room    *sync.Cond
	queue   []idp.AuditEvent
	writing bool // a writer goroutine runs

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
	l := &Log{store: o.Store, path: o.File, stdout: o.Stdout, log: o.Logger, wait: storeBatchWait}
	l.room = sync.NewCond(&l.qmu)
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
		l.enqueue(e)
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

// enqueue hands e to the store writer, starting one if none runs. It waits
// while maxPendingStores events are queued.
func (l *Log) enqueue(e idp.AuditEvent) {
	l.writes.Add(1)
	l.qmu.Lock()
	for len(l.queue) >= maxPendingStores {
		l.room.Wait()
	}
	l.queue = append(l.queue, e)
	if !l.writing {
		l.writing = true
		go l.writer()
	}
	l.qmu.Unlock()
}

// writer stores the queue in batches, one every l.wait, and ends when a
// wait brought no event. The writes do not use the sign-ins' contexts:
// a browser may have gone, and its request is over before this runs; its
// record must still be written.
func (l *Log) writer() {
	for {
		time.Sleep(l.wait)
		l.qmu.Lock()
		q := l.queue
		l.queue = nil
		if len(q) == 0 {
			l.writing = false
			l.qmu.Unlock()
			return
		}
		l.room.Broadcast()
		l.qmu.Unlock()
		for len(q) > 0 {
			n := min(len(q), maxBatch)
			l.store1(q[:n])
			l.writes.Add(-n)
			q = q[n:]
		}
	}
}

// store1 writes one batch; a failure is logged with every event's request
// ID, as the events are lost from the store.
func (l *Log) store1(batch []idp.AuditEvent) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.store.PutAudit(ctx, batch...); err != nil {
		ids := make([]string, len(batch))
		for i, e := range batch {
			ids[i] = e.RequestID
		}
		l.log.Error("audit_store_failed", "events", len(batch), "request_ids", ids, "err", err)
	}
}
