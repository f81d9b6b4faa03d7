package boltstore

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ncp-sso/idp/idp"
)

// TestCommitterGroupFailure: a write that fails its transaction rolls its
// group back, yet only its own caller sees the failure; the neighbours'
// writes land, and an outcome (not found) does not roll anything back.
func TestCommitterGroupFailure(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "c.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := newCommitter(db)
	defer c.stop()
	boom := errors.New("boom")
	const n = 64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.do(func(tx *bolt.Tx) error {
				bkt, err := tx.CreateBucketIfNotExists([]byte("b"))
				if err != nil {
					return err
				}
				switch i % 8 {
				case 3:
					return idp.ErrNotFound
				case 5:
					if err := bkt.Put([]byte("bad"), []byte("x")); err != nil {
						return err
					}
					return boom
				}
				return bkt.Put(fmt.Appendf(nil, "k%d", i), []byte("v"))
			})
		}()
	}
	wg.Wait()
	err = db.View(func(tx *bolt.Tx) error {
		bkt := tx.Bucket([]byte("b"))
		if bkt.Get([]byte("bad")) != nil {
			t.Error("a failed write's change was committed")
		}
		for i := range n {
			got := bkt.Get(fmt.Appendf(nil, "k%d", i)) != nil
			want := i%8 != 3 && i%8 != 5
			if got != want {
				t.Errorf("write %d stored = %v, want %v", i, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		var want error
		switch i % 8 {
		case 3:
			want = idp.ErrNotFound
		case 5:
			want = boom
		}
		if !errors.Is(err, want) || (want == nil && err != nil) {
			t.Errorf("write %d: err %v, want %v", i, err, want)
		}
	}
	c.stop()
	if err := c.do(func(*bolt.Tx) error { return nil }); !errors.Is(err, errClosed) {
		t.Fatalf("after stop: %v", err)
	}
}

// TestCommitterYieldsWhenBusy: with other goroutines waiting for the
// processor, the committer yields to them before committing and takes the
// writes they queued meanwhile into the same transaction; with nobody
// waiting it commits at once, without yielding.
func TestCommitterYieldsWhenBusy(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "c.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mu sync.Mutex
	txOf := map[string]int{} // write name -> transaction ID
	put := func(name string) func(*bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			mu.Lock()
			txOf[name] = tx.ID()
			mu.Unlock()
			bkt, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return bkt.Put([]byte(name), []byte("v"))
		}
	}
	const others = 5
	var wg sync.WaitGroup
	yields := 0
	var c *committer
	c = startCommitter(db, func() bool { return true }, func() {
		yields++
		if yields > 1 {
			return
		}
		// The goroutines the processor would run: each gets to its write
		// and waits for the committer to take it.
		for i := range others {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.do(put(fmt.Sprintf("other%d", i))); err != nil {
					t.Error(err)
				}
			}()
		}
		waitForWriters(t, others)
	})
	if err := c.do(put("first")); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	c.stop()
	if yields != 2 {
		t.Errorf("yielded %d times, want 2 (the second brought nothing more)", yields)
	}
	for name, id := range txOf {
		if id != txOf["first"] {
			t.Errorf("%s committed in transaction %d, the first write in %d", name, id, txOf["first"])
		}
	}
	if len(txOf) != others+1 {
		t.Errorf("%d writes ran, want %d", len(txOf), others+1)
	}

	idle := startCommitter(db, func() bool { return false }, func() { t.Error("yielded with nobody waiting for the processor") })
	defer idle.stop()
	if err := idle.do(put("alone")); err != nil {
		t.Fatal(err)
	}
}

// waitForWriters waits until n goroutines wait in committer.do for the
// committer to take their write.
func waitForWriters(t *testing.T, n int) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for range 10000 {
		waiting := 0
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "[select]") && strings.Contains(g, "(*committer).do(") {
				waiting++
			}
		}
		if waiting >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("the writers never got to their writes")
}
