package boltstore

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

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
