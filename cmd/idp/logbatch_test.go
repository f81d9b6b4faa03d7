package main

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingWriter records each write it gets.
type countingWriter struct {
	mu     sync.Mutex
	writes []string
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

func (w *countingWriter) snapshot() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.writes...)
}

// Lines logged together reach the output in one write, whole and in
// order, within the delay; Flush writes at once; a burst past the cap is
// written without waiting.
func TestLogBatch(t *testing.T) {
	out := &countingWriter{}
	b := newLogBatch(out)
	log := slog.New(slog.NewJSONHandler(b, nil))
	for i := range 3 {
		log.Info("line", "n", i)
	}
	if w := out.snapshot(); len(w) != 0 {
		t.Fatalf("lines written before the delay: %q", w)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(out.snapshot()) == 0 && time.Now().Before(deadline) {
		time.Sleep(logBatchDelay / 4)
	}
	w := out.snapshot()
	if len(w) != 1 {
		t.Fatalf("three lines took %d writes, want 1", len(w))
	}
	lines := strings.Split(strings.TrimSuffix(w[0], "\n"), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], `"n":0`) || !strings.Contains(lines[2], `"n":2`) {
		t.Fatalf("batch = %q, want the three lines in order", w[0])
	}

	log.Info("on stop")
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if w := out.snapshot(); len(w) != 2 || !strings.Contains(w[1], "on stop") {
		t.Fatalf("Flush did not write the kept line: %q", w)
	}
	if err := b.Flush(); err != nil || len(out.snapshot()) != 2 {
		t.Fatalf("an empty Flush wrote (%v)", err)
	}

	// A burst: the first lines go out as soon as the next would pass the
	// cap, without the timer.
	line := bytes.Repeat([]byte("x"), 1023)
	line = append(line, '\n')
	for range logBatchMax/len(line) + 1 {
		if _, err := b.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	w = out.snapshot()
	if len(w) != 3 || len(w[2]) > logBatchMax || len(w[2])%len(line) != 0 {
		t.Fatalf("a burst past %d bytes: %d writes (last %d bytes), want one of whole lines within the cap", logBatchMax, len(w), len(w[len(w)-1]))
	}
	_ = b.Flush()
}
