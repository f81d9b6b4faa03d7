package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
)

// Keys of timed IDs sort by the IDs' creation time, whatever their random
// part, so a bolt commit of records made together touches neighbouring
// pages.
func TestTimedIDKeysSortByTime(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 8, 55, 0, 0, time.UTC)
	var prev []byte
	for _, at := range []time.Time{t0, t0.Add(time.Millisecond), t0.Add(time.Second), t0.Add(8 * time.Hour)} {
		var lo, hi []byte
		for range 64 {
			id := idp.NewTimedID(nil, at)
			if len(id) != idp.TimedIDLen {
				t.Fatalf("timed ID %q: %d characters, want %d", id, len(id), idp.TimedIDLen)
			}
			k := lookupKey(id)
			if len(k) != idp.TimePrefixBytes+sha256.Size {
				t.Fatalf("key of a timed ID: %d bytes", len(k))
			}
			var ms [8]byte
			copy(ms[2:], k[:idp.TimePrefixBytes])
			if got := int64(binary.BigEndian.Uint64(ms[:])); got != at.UnixMilli() {
				t.Fatalf("key prefix %d, want the creation time %d", got, at.UnixMilli())
			}
			if lo == nil || bytes.Compare(k, lo) < 0 {
				lo = k
			}
			if hi == nil || bytes.Compare(k, hi) > 0 {
				hi = k
			}
		}
		if prev != nil && bytes.Compare(lo, prev) <= 0 {
			t.Fatalf("at %s the lowest key sorts before a key made earlier", at)
		}
		prev = hi
	}
}

// IDs made before timed IDs (43 characters) keep the plain hash, so their
// sessions and tokens are still found after the upgrade; an ID of the
// timed length whose prefix is not Base64 gets the plain hash too.
func TestOtherIDsKeepThePlainHash(t *testing.T) {
	plain := func(id string) []byte {
		sum := sha256.Sum256([]byte(labelLookup + id))
		return sum[:]
	}
	for _, id := range []string{idp.NewID(nil), "sess-old", "!!!!!!!!" + idp.NewID(nil)} {
		if got := lookupKey(id); !bytes.Equal(got, plain(id)) {
			t.Errorf("lookupKey(%q) = %x, want the plain hash %x", id, got, plain(id))
		}
	}
}

// A session stored under a legacy ID and one under a timed ID are both
// found, and each only under its own ID.
func TestLegacyAndTimedSessionsBothFound(t *testing.T) {
	b := &mapBackend{m: map[string][]byte{}}
	st := New(b)
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	legacy := idp.Session{ID: idp.NewID(nil), Identity: idp.Identity{Subject: "s1", Username: "kim"}, ExpiresAt: exp}
	timed := idp.Session{ID: idp.NewTimedID(nil, time.Now()), Identity: idp.Identity{Subject: "s2", Username: "lee"}, ExpiresAt: exp}
	for _, s := range []idp.Session{legacy, timed} {
		if err := st.PutSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []idp.Session{legacy, timed} {
		got, err := st.GetSession(ctx, s.ID)
		if err != nil || got.Identity.Username != s.Identity.Username {
			t.Fatalf("session %q: %+v, %v", s.ID, got, err)
		}
	}
	// Same time prefix, other random part: not found.
	other := timed.ID[:8] + idp.NewID(nil)[:idp.TimedIDLen-8]
	if _, err := st.GetSession(ctx, other); err == nil {
		t.Fatal("a timed ID sharing only the time prefix found the session")
	}
}
