package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
)

// TestUpdateIsAtomic: an Update whose fn fails after writing leaves nothing
// behind and returns fn's error as is, while the Updates and Puts that
// shared its group commit land.
func TestUpdateIsAtomic(t *testing.T) {
	b := open(t, filepath.Join(t.TempDir(), "u.db"))
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	if err := b.Put(ctx, "b", []byte("text"), []byte("not a counter"), exp); err != nil {
		t.Fatal(err)
	}
	const n = 48
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Appendf(nil, "k%d", i)
			switch i % 3 {
			case 0: // a plain Put in the same groups
				errs[i] = b.Put(ctx, "b", key, []byte("v"), exp)
			case 1: // counter and record together
				errs[i] = b.Update(ctx, "b", func(tx store.Tx) error {
					if _, err := tx.Incr([]byte("ctr"), exp); err != nil {
						return err
					}
					return tx.Put(key, []byte("v"), exp)
				})
			case 2: // writes, then an error: none of it may stay
				errs[i] = b.Update(ctx, "b", func(tx store.Tx) error {
					if err := tx.Put(key, []byte("v"), exp); err != nil {
						return err
					}
					if _, err := tx.Incr([]byte("ctr"), exp); err != nil {
						return err
					}
					_, err := tx.Incr([]byte("text"), exp)
					return err
				})
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		_, gerr := b.Get(ctx, "b", fmt.Appendf(nil, "k%d", i))
		if i%3 == 2 {
			if !errors.Is(err, store.ErrInvalid) || errors.Is(err, idp.ErrStoreUnavailable) {
				t.Errorf("failing update %d: err %v, want ErrInvalid", i, err)
			}
			if !errors.Is(gerr, idp.ErrNotFound) {
				t.Errorf("failing update %d left its record (get: %v)", i, gerr)
			}
			continue
		}
		if err != nil || gerr != nil {
			t.Errorf("write %d: %v, then get: %v", i, err, gerr)
		}
	}
	ctr, err := b.Get(ctx, "b", []byte("ctr"))
	if err != nil || string(ctr) != fmt.Sprint(n/3) {
		t.Fatalf("counter %q (%v), want %d: only the updates that succeeded may count", ctr, err, n/3)
	}
}

// TestUpdateRefusesWhatPutRefuses: Tx checks keys and expiries as the
// Backend calls do, and a cancelled context runs nothing.
func TestUpdateRefusesWhatPutRefuses(t *testing.T) {
	b := open(t, filepath.Join(t.TempDir(), "u.db"))
	ctx := context.Background()
	err := b.Update(ctx, "b", func(tx store.Tx) error { return tx.Put(nil, []byte("v"), time.Now().Add(time.Hour)) })
	if !errors.Is(err, store.ErrInvalid) {
		t.Errorf("empty key: %v", err)
	}
	if err := b.Update(ctx, "", func(store.Tx) error { return nil }); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("empty bucket: %v", err)
	}
	err = b.Update(ctx, "b", func(tx store.Tx) error {
		_, err := tx.Incr([]byte("k"), time.Time{})
		return err
	})
	if !errors.Is(err, store.ErrInvalid) {
		t.Errorf("zero expiry: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	ran := false
	if err := b.Update(cctx, "b", func(store.Tx) error { ran = true; return nil }); !errors.Is(err, context.Canceled) || ran {
		t.Errorf("cancelled: err %v, fn ran %v", err, ran)
	}
}
