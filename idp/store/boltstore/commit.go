package boltstore

import (
	"errors"
	"runtime"

	bolt "go.etcd.io/bbolt"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/runq"
	"github.com/ncp-sso/idp/idp/store"
)

// maxGroup bounds the writes one commit carries, so one transaction never
// holds many thousands of dirty pages.
const maxGroup = 512

// A write is one caller's part of a group commit. fn runs inside the
// group's read-write transaction; done receives the caller's result.
type write struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// committer is group commit without a timer. One goroutine owns the write
// side: it takes the first waiting write, adds every other write already
// queued (and, when the processor is busy, those queued by the goroutines
// it yields to: see yieldRounds), and commits them in one transaction (one
// fsync pair). A lone login commits at once; writes that arrive while a
// commit is on the disk queue up and share the next one. bbolt's db.Batch,
// which this replaces, waits MaxBatchDelay for company even when nobody
// else is writing, which added that delay to every write of a lone login.
//
// An fn reports an outcome (idp.ErrNotFound, store.ErrInvalid,
// store.ErrCorrupt) only before it has written anything, so such an error
// is handed to its caller and the group goes on. Any other error (a bbolt
// failure) rolls the whole group back; every write of it is then run in a
// transaction of its own, so each caller gets its own result and a failing
// write cannot take its neighbours down with it. An fn may therefore run
// twice, and every fn resets what it reports at its start.
type committer struct {
	db     *bolt.DB
	writes chan write
	quit   chan struct{}
	done   chan struct{}
	// busy and yield are loop's hooks into the scheduler (tests replace
	// them).
	busy  func() bool
	yield func()
}

func newCommitter(db *bolt.DB) *committer {
	return startCommitter(db, othersRunnable(), runtime.Gosched)
}

func startCommitter(db *bolt.DB, busy func() bool, yield func()) *committer {
	c := &committer{db: db, writes: make(chan write), quit: make(chan struct{}), done: make(chan struct{}), busy: busy, yield: yield}
	go c.loop()
	return c
}

// Yielding before a commit. With the processor saturated, the requests
// that are about to write (a sign-in storing its session) are runnable
// goroutines that have not yet got to their write, and a commit that
// starts at once carries one or two writes: each SAML sign-in paid for a
// commit of its own (two fdatasyncs and a transaction, some 0.15 ms of
// processor). So when other goroutines are waiting for the processor, the
// committer lets them run first (runtime.Gosched), up to yieldRounds
// times while doing so brings more writes, and commits what they queued
// together. It costs no wall time that the processor was not going to
// spend on those goroutines anyway, and a lone sign-in (nobody else
// runnable) commits at once as before. In idpbench at 64 browsers it took
// the commits per SAML sign-in from 1.12 to 0.29 and per OAuth sign-in
// from 0.27 to 0.17; at one browser they stay as they were (1.2-1.3 and
// 2.0-2.1), and so does the login's latency.
const (
	yieldRounds = 3
	// yieldWhenRunnable is how many other goroutines must be waiting for
	// the processor before the committer yields to them.
	yieldWhenRunnable = 4
)

// othersRunnable returns a probe of whether yieldWhenRunnable goroutines
// are waiting for a processor. It is only called from the committer's
// goroutine.
func othersRunnable() func() bool {
	waiting := runq.Reader()
	return func() bool { return waiting() >= yieldWhenRunnable }
}

// do runs fn in the next group commit and returns its result. After stop
// it fails with idp.ErrStoreUnavailable without running fn.
func (c *committer) do(fn func(*bolt.Tx) error) error {
	w := write{fn: fn, done: make(chan error, 1)}
	select {
	case c.writes <- w:
		return <-w.done
	case <-c.quit:
		return errClosed
	}
}

var errClosed = errors.New("boltstore: closed")

// stop ends the loop after the writes it has accepted; it may be called
// more than once.
func (c *committer) stop() {
	select {
	case <-c.quit:
	default:
		close(c.quit)
	}
	<-c.done
}

func (c *committer) loop() {
	defer close(c.done)
	group := make([]write, 0, maxGroup)
	for {
		select {
		case w := <-c.writes:
			group = append(group[:0], w)
		case <-c.quit:
			return
		}
		group = c.gather(group)
		if len(group) < maxGroup && c.busy() {
			for range yieldRounds {
				n := len(group)
				c.yield()
				if group = c.gather(group); len(group) == n {
					break
				}
			}
		}
		c.commit(group)
	}
}

// gather adds to group the writes already queued, up to maxGroup.
func (c *committer) gather(group []write) []write {
	for len(group) < maxGroup {
		select {
		case w := <-c.writes:
			group = append(group, w)
		default:
			return group
		}
	}
	return group
}

// commit runs group in one transaction, or, when that fails, each write
// in its own.
func (c *committer) commit(group []write) {
	results := make([]error, len(group))
	err := c.db.Update(func(tx *bolt.Tx) error {
		for i, w := range group {
			err := w.fn(tx)
			if err != nil && !isOutcome(err) {
				return err
			}
			results[i] = err
		}
		return nil
	})
	if err == nil {
		for i, w := range group {
			w.done <- results[i]
		}
		return
	}
	if len(group) == 1 {
		group[0].done <- err
		return
	}
	for _, w := range group {
		w.done <- c.db.Update(w.fn)
	}
}

// isOutcome reports whether an fn's error is an answer for its caller
// rather than a failure of the transaction.
func isOutcome(err error) bool {
	return errors.Is(err, idp.ErrNotFound) || errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrCorrupt)
}
