package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/memory"
)

func event(user string, at time.Time) idp.AuditEvent {
	return idp.AuditEvent{Time: at, RequestID: "R1", User: user, SP: "workplace", Mode: "oauth",
		Result: idp.AuditSuccess, Reason: idp.ReasonPassword, IP: "192.0.2.1", UserAgent: "UA"}
}

func readLines(t *testing.T, path string) []idp.AuditEvent {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []idp.AuditEvent
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e idp.AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q is not one JSON event: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func TestLogFileStoreAndReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	st := store.New(memory.New())
	t.Cleanup(func() { st.Close() })
	l, err := New(Options{Store: st.(idp.AuditStore), File: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	now := time.Now()
	l.Audit(t.Context(), event("alice", now))
	// logrotate moves the file away, then signals: new lines go to a new file.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Audit(t.Context(), event("bob", now.Add(time.Second)))
	if got := readLines(t, path+".1"); len(got) != 1 || got[0].User != "alice" || got[0].SP != "workplace" {
		t.Errorf("rotated file = %+v, want alice's event", got)
	}
	if got := readLines(t, path); len(got) != 1 || got[0].User != "bob" {
		t.Errorf("new file = %+v, want bob's event", got)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("audit file mode: %v %v, want 0600", fi.Mode(), err)
	}
	l.Flush()
	evs, err := st.(idp.AuditStore).ListAudit(t.Context(), idp.AuditQuery{Before: now.Add(time.Minute)})
	if err != nil || len(evs) != 2 || evs[0].User != "bob" {
		t.Errorf("store has %+v (%v), want bob then alice", evs, err)
	}
}

func TestLogStdout(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Options{File: "-", Stdout: &buf})
	if err != nil {
		t.Fatal(err)
	}
	l.Audit(t.Context(), event("alice", time.Now()))
	var e idp.AuditEvent
	if err := json.Unmarshal(buf.Bytes(), &e); err != nil || e.User != "alice" || buf.Bytes()[buf.Len()-1] != '\n' {
		t.Fatalf("stdout %q: %v", buf.String(), err)
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		bad  bool
	}{
		{"defaults", Config{}, false},
		{"too short", Config{Retention: time.Minute}, true},
		{"too long", Config{Retention: 10000 * time.Hour}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.SetDefaults()
			if ps := tc.c.Validate(); (len(ps) > 0) != tc.bad {
				t.Fatalf("Validate = %v, want problems: %v", ps, tc.bad)
			}
		})
	}
}

// countingStore is an idp.AuditStore that counts what it is given, each
// write waiting for release.
type countingStore struct {
	idp.AuditStore
	release chan struct{}
	mu      sync.Mutex
	batches []int
}

func (c *countingStore) PutAudit(_ context.Context, events ...idp.AuditEvent) error {
	<-c.release
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches = append(c.batches, len(events))
	return nil
}

func (c *countingStore) total() (n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.batches {
		n += b
	}
	return n
}

// TestLogStoreBackpressure: while the store is stuck, Audit takes
// maxPendingStores events beyond those the writer took and then waits;
// once the store answers, every event reaches it, none is dropped, in
// batches of at most maxBatch, and Close waits for them.
func TestLogStoreBackpressure(t *testing.T) {
	st := &countingStore{release: make(chan struct{})}
	l, err := New(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	l.wait = time.Millisecond
	now := time.Now()
	var handed atomic.Int64
	const n = 3 * maxPendingStores
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			l.Audit(t.Context(), event("alice", now.Add(time.Duration(i)*time.Microsecond)))
			handed.Add(1)
		}
	}()
	// The writer takes what is queued and sticks in the store; Audit then
	// fills the queue again and waits.
	deadline := time.Now().Add(10 * time.Second)
	for {
		h := handed.Load()
		time.Sleep(50 * time.Millisecond)
		if h == handed.Load() && h > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Audit never waited for the stuck store")
		}
	}
	if h := handed.Load(); h > 2*maxPendingStores {
		t.Fatalf("Audit returned %d times while the store was stuck: the queue is not bounded", h)
	}
	close(st.release)
	<-done
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := st.total(); got != n {
		t.Fatalf("store got %d events, want %d", got, n)
	}
	for _, b := range st.batches {
		if b > maxBatch {
			t.Fatalf("a batch of %d events, more than %d", b, maxBatch)
		}
	}
}

// Events that come together are stored together: one batch, one write.
func TestLogStoresABatch(t *testing.T) {
	st := store.New(memory.New())
	t.Cleanup(func() { st.Close() })
	as := &countingStore{AuditStore: st.(idp.AuditStore), release: make(chan struct{})}
	close(as.release)
	l, err := New(Options{Store: as})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range 50 {
		l.Audit(t.Context(), event(fmt.Sprintf("user%d", i), now))
	}
	l.Flush()
	if len(as.batches) != 1 || as.batches[0] != 50 {
		t.Fatalf("50 events at once were stored in batches %v, want one of 50", as.batches)
	}
}
