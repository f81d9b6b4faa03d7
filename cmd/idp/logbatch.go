package main

import (
	"io"
	"sync"
	"time"
)

// logBatch collects the server's log lines and writes them to out in one
// write a little later, instead of one write system call per line. A SAML
// sign-in logs three lines; written one by one to a log file they cost
// some 0.03-0.05 ms of the IdP's CPU per sign-in at 64 browsers (idpbench,
// paired runs with log.level warn), most of it in the file system's
// appends. A line waits at most logBatchDelay, so `tail -f` and journald
// still see it at once to a person; lines are written whole and in order.
// What a crash of the process leaves unwritten is at most that delay's
// lines (a panic in a request is recovered and logged as usual); the
// audit trail (audit.file, the store) is written on its own, before the
// response, and is not delayed.
type logBatch struct {
	mu    sync.Mutex
	out   io.Writer
	buf   []byte
	timer *time.Timer // flushes once the first line of a batch waited logBatchDelay
	armed bool
}

const (
	logBatchDelay = 20 * time.Millisecond
	// logBatchMax is flushed at once: a burst of lines never holds more.
	logBatchMax = 64 << 10
)

func newLogBatch(out io.Writer) *logBatch {
	b := &logBatch{out: out}
	b.timer = time.AfterFunc(time.Hour, func() { _ = b.Flush() })
	b.timer.Stop()
	return b
}

// Write keeps p (one log line: slog's handlers write a record in one
// call) for the next flush.
func (b *logBatch) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf)+len(p) > logBatchMax {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
	}
	b.buf = append(b.buf, p...)
	if !b.armed {
		b.armed = true
		b.timer.Reset(logBatchDelay)
	}
	return len(p), nil
}

// Flush writes what is kept; the server calls it when it stops.
func (b *logBatch) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *logBatch) flushLocked() error {
	b.armed = false
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.out.Write(b.buf)
	if cap(b.buf) > logBatchMax {
		b.buf = nil // a burst's buffer is not kept for good
	} else {
		b.buf = b.buf[:0]
	}
	return err
}
