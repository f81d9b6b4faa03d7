package storetest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
)

// RunBackend tests the store.Backend primitives.
func RunBackend(t *testing.T, nb NewBackend) {
	tests := []struct {
		name string
		fn   func(e *env)
	}{
		{"PutGetDelete", testPutGetDelete},
		{"ValuesAreCopies", testValuesAreCopies},
		{"InvalidArguments", testInvalidArguments},
		{"Expiry", testExpiry},
		{"Take", testTake},
		{"Consume", testConsume},
		{"ConsumeShrink", testConsumeShrink},
		{"PutIfAbsent", testPutIfAbsent},
		{"Incr", testIncr},
		{"SweepKeepsLive", testSweepKeepsLive},
		{"CancelledContext", testCancelledContext},
		{"Closed", testClosed},
		{"ConcurrentTake", testConcurrentTake},
		{"ConcurrentConsume", testConcurrentConsume},
		{"ConcurrentPutIfAbsent", testConcurrentPutIfAbsent},
		{"ConcurrentIncr", testConcurrentIncr},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(newEnv(t, nb)) })
	}
}

func (e *env) put(bucket, key, value string, ttl time.Duration) {
	e.t.Helper()
	if err := e.b.Put(e.ctx, bucket, []byte(key), []byte(value), e.clk.Now().Add(ttl)); err != nil {
		e.t.Fatalf("Put(%s, %s): %v", bucket, key, err)
	}
}

// wantGet fails unless Get returns want.
func (e *env) wantGet(bucket, key, want string) {
	e.t.Helper()
	got, err := e.b.Get(e.ctx, bucket, []byte(key))
	if err != nil {
		e.t.Fatalf("Get(%s, %s): %v", bucket, key, err)
	}
	if string(got) != want {
		e.t.Fatalf("Get(%s, %s) = %q, want %q", bucket, key, got, want)
	}
}

func (e *env) wantAbsent(bucket, key string) {
	e.t.Helper()
	_, err := e.b.Get(e.ctx, bucket, []byte(key))
	wantErr(e.t, "Get("+bucket+", "+key+")", err, idp.ErrNotFound)
}

func testPutGetDelete(e *env) {
	e.wantAbsent("b1", "k")
	e.put("b1", "k", "v1", time.Minute)
	e.put("b2", "k", "other bucket", time.Minute)
	e.wantGet("b1", "k", "v1")
	e.wantGet("b2", "k", "other bucket")
	e.wantAbsent("b1", "k2")
	e.wantAbsent("never-used", "k")

	e.put("b1", "k", "v2", time.Minute)
	e.wantGet("b1", "k", "v2")

	e.put("b1", "empty", "", time.Minute)
	e.wantGet("b1", "empty", "")

	wantErr(e.t, "Delete", e.b.Delete(e.ctx, "b1", []byte("k")), nil)
	e.wantAbsent("b1", "k")
	e.wantGet("b2", "k", "other bucket")
	wantErr(e.t, "Delete absent", e.b.Delete(e.ctx, "b1", []byte("k")), nil)
	wantErr(e.t, "Delete in unknown bucket", e.b.Delete(e.ctx, "never-used", []byte("k")), nil)

	// Binary keys and values survive unchanged.
	key, val := []byte{0, 0xff, '/', 0}, []byte{0xff, 0, 1}
	wantErr(e.t, "Put binary", e.b.Put(e.ctx, "b1", key, val, e.clk.Now().Add(time.Minute)), nil)
	got, err := e.b.Get(e.ctx, "b1", key)
	wantErr(e.t, "Get binary", err, nil)
	if !bytes.Equal(got, val) {
		e.t.Fatalf("Get binary = %x, want %x", got, val)
	}
}

func testValuesAreCopies(e *env) {
	key, val := []byte("k"), []byte("value")
	wantErr(e.t, "Put", e.b.Put(e.ctx, "b", key, val, e.clk.Now().Add(time.Minute)), nil)
	key[0], val[0] = 'x', 'X'
	got, err := e.b.Get(e.ctx, "b", []byte("k"))
	wantErr(e.t, "Get", err, nil)
	if string(got) != "value" {
		e.t.Fatalf("Get after caller changed its slice = %q, want %q", got, "value")
	}
	got[0] = 'Y'
	e.wantGet("b", "k", "value")
}

func testInvalidArguments(e *env) {
	exp := e.clk.Now().Add(time.Minute)
	k, v := []byte("k"), []byte("v")
	calls := []struct {
		name string
		err  func() error
	}{
		{"Put empty bucket", func() error { return e.b.Put(e.ctx, "", k, v, exp) }},
		{"Put empty key", func() error { return e.b.Put(e.ctx, "b", nil, v, exp) }},
		{"Put zero expiry", func() error { return e.b.Put(e.ctx, "b", k, v, time.Time{}) }},
		{"Get empty key", func() error { _, err := e.b.Get(e.ctx, "b", []byte{}); return err }},
		{"Delete empty bucket", func() error { return e.b.Delete(e.ctx, "", k) }},
		{"Take empty key", func() error { _, err := e.b.Take(e.ctx, "b", nil); return err }},
		{"Consume negative keep", func() error { _, _, err := e.b.Consume(e.ctx, "b", k, -time.Second); return err }},
		{"PutIfAbsent zero expiry", func() error { _, err := e.b.PutIfAbsent(e.ctx, "b", k, v, time.Time{}); return err }},
		{"Incr zero expiry", func() error { _, err := e.b.Incr(e.ctx, "b", k, time.Time{}); return err }},
		{"Incr empty bucket", func() error { _, err := e.b.Incr(e.ctx, "", k, exp); return err }},
	}
	for _, c := range calls {
		wantErr(e.t, c.name, c.err(), store.ErrInvalid)
	}
	// Nothing was written by the refused calls.
	e.wantAbsent("b", "k")
}

func testExpiry(e *env) {
	const ttl = time.Minute
	for _, k := range []string{"get", "take", "consume", "absent", "incr"} {
		e.put("b", k, "v", ttl)
	}
	e.put("b", "longer", "v", 2*ttl)

	// Live up to the last instant before expiry...
	e.clk.Advance(ttl - time.Nanosecond)
	e.wantGet("b", "get", "v")
	// ...and gone at expiry, for every reader, before any sweep.
	e.clk.Advance(time.Nanosecond)
	e.wantAbsent("b", "get")
	_, err := e.b.Take(e.ctx, "b", []byte("take"))
	wantErr(e.t, "Take expired", err, idp.ErrNotFound)
	_, _, err = e.b.Consume(e.ctx, "b", []byte("consume"), time.Hour)
	wantErr(e.t, "Consume expired", err, idp.ErrNotFound)
	ok, err := e.b.PutIfAbsent(e.ctx, "b", []byte("absent"), []byte("new"), e.clk.Now().Add(ttl))
	wantErr(e.t, "PutIfAbsent over expired", err, nil)
	if !ok {
		e.t.Fatal("PutIfAbsent over an expired record = false, want true")
	}
	e.wantGet("b", "absent", "new")
	n, err := e.b.Incr(e.ctx, "b", []byte("incr"), e.clk.Now().Add(ttl))
	wantErr(e.t, "Incr over expired", err, nil)
	if n != 1 {
		// "v" is not a counter, but an expired record is no record at all.
		e.t.Fatalf("Incr over an expired record = %d, want 1", n)
	}
	e.wantGet("b", "longer", "v")

	// A record put with an expiry already past is never seen.
	wantErr(e.t, "Put past", e.b.Put(e.ctx, "b", []byte("past"), []byte("v"), e.clk.Now().Add(-time.Second)), nil)
	e.wantAbsent("b", "past")

	// Overwriting renews the expiry.
	e.put("b", "renew", "v1", ttl)
	e.clk.Advance(ttl / 2)
	e.put("b", "renew", "v2", ttl)
	e.clk.Advance(ttl/2 + time.Second)
	e.wantGet("b", "renew", "v2")
}

func testTake(e *env) {
	e.put("b", "k", "v", time.Minute)
	got, err := e.b.Take(e.ctx, "b", []byte("k"))
	wantErr(e.t, "Take", err, nil)
	if string(got) != "v" {
		e.t.Fatalf("Take = %q, want %q", got, "v")
	}
	_, err = e.b.Take(e.ctx, "b", []byte("k"))
	wantErr(e.t, "second Take", err, idp.ErrNotFound)
	e.wantAbsent("b", "k")
	_, err = e.b.Take(e.ctx, "never-used", []byte("k"))
	wantErr(e.t, "Take in unknown bucket", err, idp.ErrNotFound)
}

func (e *env) consume(key string, keep time.Duration, want string, wantFirst bool, wantE error) {
	e.t.Helper()
	got, first, err := e.b.Consume(e.ctx, "b", []byte(key), keep)
	wantErr(e.t, "Consume("+key+")", err, wantE)
	if wantE != nil {
		return
	}
	if string(got) != want || first != wantFirst {
		e.t.Fatalf("Consume(%s) = %q, first %v; want %q, first %v", key, got, first, want, wantFirst)
	}
}

func testConsume(e *env) {
	const ttl, keep = time.Minute, 10 * time.Minute
	e.consume("k", keep, "", false, idp.ErrNotFound)
	e.put("b", "k", "v", ttl)
	e.consume("k", keep, "v", true, nil)
	e.consume("k", keep, "v", false, nil)
	// A tombstone is invisible to everything but Consume.
	e.wantAbsent("b", "k")
	_, err := e.b.Take(e.ctx, "b", []byte("k"))
	wantErr(e.t, "Take tombstone", err, idp.ErrNotFound)

	// The tombstone outlives the record's expiry by keep, then goes.
	e.clk.Advance(ttl + keep - time.Second)
	e.consume("k", keep, "v", false, nil)
	e.clk.Advance(time.Second)
	e.consume("k", keep, "", false, idp.ErrNotFound)

	// Put over a tombstone starts a fresh record.
	e.put("b", "t", "old", ttl)
	e.consume("t", keep, "old", true, nil)
	e.put("b", "t", "new", ttl)
	e.wantGet("b", "t", "new")
	e.consume("t", keep, "new", true, nil)
	// PutIfAbsent over a tombstone stores too.
	ok, err := e.b.PutIfAbsent(e.ctx, "b", []byte("t"), []byte("fresh"), e.clk.Now().Add(ttl))
	wantErr(e.t, "PutIfAbsent over tombstone", err, nil)
	if !ok {
		e.t.Fatal("PutIfAbsent over a tombstone = false, want true")
	}
	e.wantGet("b", "t", "fresh")

	// Delete removes a tombstone.
	e.put("b", "d", "v", ttl)
	e.consume("d", keep, "v", true, nil)
	wantErr(e.t, "Delete tombstone", e.b.Delete(e.ctx, "b", []byte("d")), nil)
	e.consume("d", keep, "", false, idp.ErrNotFound)

	// With keep zero the tombstone ends with the record.
	e.put("b", "z", "v", ttl)
	e.consume("z", 0, "v", true, nil)
	e.clk.Advance(ttl)
	e.consume("z", 0, "", false, idp.ErrNotFound)
}

// testConsumeShrink: a store.Shrinker's consuming call gets the whole value
// and leaves the shrunk one as the tombstone, shrinking once; a nil shrink
// result keeps the value. Backends that are not Shrinkers skip it (the
// typed store then keeps whole tombstones through Consume).
func testConsumeShrink(e *env) {
	sh, ok := e.b.(store.Shrinker)
	if !ok {
		e.t.Skip("not a store.Shrinker")
	}
	const ttl, keep = time.Minute, 10 * time.Minute
	shrinks := 0
	shrink := func(v []byte) []byte {
		shrinks++
		if string(v) != "whole value" {
			e.t.Errorf("shrink got %q", v)
		}
		return []byte("small")
	}
	e.put("b", "k", "whole value", ttl)
	got, first, err := sh.ConsumeShrink(e.ctx, "b", []byte("k"), keep, shrink)
	wantErr(e.t, "ConsumeShrink", err, nil)
	if string(got) != "whole value" || !first {
		e.t.Fatalf("ConsumeShrink = %q, first %v; want the whole value, first", got, first)
	}
	got, first, err = sh.ConsumeShrink(e.ctx, "b", []byte("k"), keep, shrink)
	wantErr(e.t, "ConsumeShrink again", err, nil)
	if string(got) != "small" || first {
		e.t.Fatalf("ConsumeShrink again = %q, first %v; want the tombstone %q", got, first, "small")
	}
	e.consume("k", keep, "small", false, nil)
	if shrinks != 1 {
		e.t.Errorf("shrink ran %d times, want once", shrinks)
	}
	e.wantAbsent("b", "k")

	e.put("b", "n", "kept", ttl)
	if _, _, err := sh.ConsumeShrink(e.ctx, "b", []byte("n"), keep, func([]byte) []byte { return nil }); err != nil {
		e.t.Fatal(err)
	}
	e.consume("n", keep, "kept", false, nil)
}

func testPutIfAbsent(e *env) {
	const ttl = time.Minute
	put := func(v string) bool {
		e.t.Helper()
		ok, err := e.b.PutIfAbsent(e.ctx, "b", []byte("k"), []byte(v), e.clk.Now().Add(ttl))
		wantErr(e.t, "PutIfAbsent", err, nil)
		return ok
	}
	if !put("first") {
		e.t.Fatal("first PutIfAbsent = false, want true")
	}
	if put("second") {
		e.t.Fatal("second PutIfAbsent = true, want false")
	}
	e.wantGet("b", "k", "first")
	e.clk.Advance(ttl - time.Second)
	if put("third") {
		e.t.Fatal("PutIfAbsent before expiry = true, want false")
	}
	e.clk.Advance(time.Second)
	if !put("fourth") {
		e.t.Fatal("PutIfAbsent after expiry = false, want true")
	}
	e.wantGet("b", "k", "fourth")
}

func testIncr(e *env) {
	const window = time.Minute
	incr := func(key string, want int64) {
		e.t.Helper()
		n, err := e.b.Incr(e.ctx, "b", []byte(key), e.clk.Now().Add(window))
		wantErr(e.t, "Incr("+key+")", err, nil)
		if n != want {
			e.t.Fatalf("Incr(%s) = %d, want %d", key, n, want)
		}
	}
	incr("a", 1)
	incr("a", 2)
	incr("b", 1)
	e.clk.Advance(window / 2)
	incr("a", 3)
	e.wantGet("b", "a", "3")
	// The window is fixed at the first increment: later ones do not extend it.
	e.clk.Advance(window / 2)
	incr("a", 1)
	incr("b", 1)

	e.put("b", "text", "not a number", window)
	_, err := e.b.Incr(e.ctx, "b", []byte("text"), e.clk.Now().Add(window))
	wantErr(e.t, "Incr on a non-counter value", err, store.ErrInvalid)
	e.wantGet("b", "text", "not a number")
}

func testSweepKeepsLive(e *env) {
	e.put("b", "short", "v", time.Minute)
	e.put("b", "long", "v", time.Hour)
	e.put("other", "long", "v", time.Hour)
	e.put("b", "tomb", "v", time.Minute)
	e.consume("tomb", time.Hour, "v", true, nil)
	e.clk.Advance(2 * time.Minute)
	if _, err := e.b.Sweep(e.ctx); err != nil {
		e.t.Fatalf("Sweep: %v", err)
	}
	e.wantAbsent("b", "short")
	e.wantGet("b", "long", "v")
	e.wantGet("other", "long", "v")
	e.consume("tomb", time.Hour, "v", false, nil)
}

func testCancelledContext(e *env) {
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	exp := e.clk.Now().Add(time.Minute)
	k := []byte("k")
	wantErr(e.t, "Put", e.b.Put(ctx, "b", k, []byte("v"), exp), context.Canceled)
	e.wantAbsent("b", "k")
	_, err := e.b.PutIfAbsent(ctx, "b", k, []byte("v"), exp)
	wantErr(e.t, "PutIfAbsent", err, context.Canceled)
	e.wantAbsent("b", "k")

	e.put("b", "k", "v", time.Minute)
	_, err = e.b.Get(ctx, "b", k)
	wantErr(e.t, "Get", err, context.Canceled)
	_, err = e.b.Take(ctx, "b", k)
	wantErr(e.t, "Take", err, context.Canceled)
	_, _, err = e.b.Consume(ctx, "b", k, 0)
	wantErr(e.t, "Consume", err, context.Canceled)
	wantErr(e.t, "Delete", e.b.Delete(ctx, "b", k), context.Canceled)
	_, err = e.b.Incr(ctx, "c", k, exp)
	wantErr(e.t, "Incr", err, context.Canceled)
	wantErr(e.t, "Check", e.b.Check(ctx), context.Canceled)
	e.wantGet("b", "k", "v")
	e.wantAbsent("c", "k")
}

func testClosed(e *env) {
	wantErr(e.t, "Check", e.b.Check(e.ctx), nil)
	e.put("b", "k", "v", time.Minute)
	wantErr(e.t, "Close", e.b.Close(), nil)
	wantErr(e.t, "second Close", e.b.Close(), nil)
	exp := e.clk.Now().Add(time.Minute)
	k := []byte("k")
	wantErr(e.t, "Check after Close", e.b.Check(e.ctx), idp.ErrStoreUnavailable)
	wantErr(e.t, "Put after Close", e.b.Put(e.ctx, "b", k, k, exp), idp.ErrStoreUnavailable)
	_, err := e.b.Get(e.ctx, "b", k)
	wantErr(e.t, "Get after Close", err, idp.ErrStoreUnavailable)
	_, err = e.b.Take(e.ctx, "b", k)
	wantErr(e.t, "Take after Close", err, idp.ErrStoreUnavailable)
	_, _, err = e.b.Consume(e.ctx, "b", k, 0)
	wantErr(e.t, "Consume after Close", err, idp.ErrStoreUnavailable)
	_, err = e.b.PutIfAbsent(e.ctx, "b", k, k, exp)
	wantErr(e.t, "PutIfAbsent after Close", err, idp.ErrStoreUnavailable)
	_, err = e.b.Incr(e.ctx, "b", k, exp)
	wantErr(e.t, "Incr after Close", err, idp.ErrStoreUnavailable)
	wantErr(e.t, "Delete after Close", e.b.Delete(e.ctx, "b", k), idp.ErrStoreUnavailable)
}

func testConcurrentTake(e *env) {
	e.put("b", "k", "v", time.Minute)
	res := race(func() error {
		got, err := e.b.Take(e.ctx, "b", []byte("k"))
		if err == nil && string(got) != "v" {
			return errors.New("wrong value " + strconv.Quote(string(got)))
		}
		return err
	})
	wantOneWinner(e.t, "Take", res, idp.ErrNotFound)
}

func testConcurrentConsume(e *env) {
	e.put("b", "k", "v", time.Minute)
	type result struct {
		first bool
		err   error
	}
	res := race(func() result {
		got, first, err := e.b.Consume(e.ctx, "b", []byte("k"), time.Minute)
		if err == nil && string(got) != "v" {
			err = errors.New("wrong value " + strconv.Quote(string(got)))
		}
		return result{first, err}
	})
	firsts := 0
	for _, r := range res {
		wantErr(e.t, "concurrent Consume", r.err, nil)
		if r.first {
			firsts++
		}
	}
	if firsts != 1 {
		e.t.Fatalf("concurrent Consume: %d calls got first=true, want exactly 1", firsts)
	}
}

func testConcurrentPutIfAbsent(e *env) {
	exp := e.clk.Now().Add(time.Minute)
	res := race(func() error {
		ok, err := e.b.PutIfAbsent(e.ctx, "b", []byte("k"), []byte("v"), exp)
		if err == nil && !ok {
			return errLost
		}
		return err
	})
	wantOneWinner(e.t, "PutIfAbsent", res, errLost)
}

func testConcurrentIncr(e *env) {
	const each = 4
	exp := e.clk.Now().Add(time.Minute)
	res := race(func() []int64 {
		var got []int64
		for range each {
			n, err := e.b.Incr(e.ctx, "b", []byte("k"), exp)
			if err != nil {
				return nil
			}
			got = append(got, n)
		}
		return got
	})
	// Every count from 1 to Workers*each was handed out exactly once.
	all := slices.Concat(res...)
	slices.Sort(all)
	if len(all) != Workers*each {
		e.t.Fatalf("concurrent Incr: %d successful calls, want %d", len(all), Workers*each)
	}
	for i, n := range all {
		if n != int64(i+1) {
			e.t.Fatalf("concurrent Incr: sorted results[%d] = %d, want %d (lost or duplicated increments)", i, n, i+1)
		}
	}
}

var errLost = errors.New("lost the race")

// wantOneWinner checks that exactly one result is nil and every other one is loser.
func wantOneWinner(t *testing.T, op string, res []error, loser error) {
	t.Helper()
	wins := 0
	for _, err := range res {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, loser):
			t.Fatalf("concurrent %s: unexpected error: %v", op, err)
		}
	}
	if wins != 1 {
		t.Fatalf("concurrent %s: %d winners, want exactly 1", op, wins)
	}
}
