package store

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
)

// mapBackend is the part of a Backend the audit code uses, in a map (the
// real backends import this package, so they cannot be used here).
type mapBackend struct {
	Backend // nil: any other call panics
	mu      sync.Mutex
	m       map[string][]byte
}

func (b *mapBackend) Put(_ context.Context, bucket string, key, value []byte, _ time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.m[bucket+"/"+string(key)] = append([]byte{}, value...)
	return nil
}

func (b *mapBackend) Get(_ context.Context, bucket string, key []byte) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.m[bucket+"/"+string(key)]
	if !ok {
		return nil, idp.ErrNotFound
	}
	return append([]byte{}, v...), nil
}

func (b *mapBackend) Incr(_ context.Context, bucket string, key []byte, _ time.Time) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, _ := strconv.ParseInt(string(b.m[bucket+"/"+string(key)]), 10, 64)
	n++
	b.m[bucket+"/"+string(key)] = strconv.AppendInt(nil, n, 10)
	return n, nil
}

func (b *mapBackend) Close() error { return nil }

// TestAuditUserIndexFormats: a user's index entries in the layouts written
// before are still listed, beside new ones, newest first: under f, a JSON
// copy of the event (the first layout) or the key of the day's event (the
// second); now under d, right after the user's counter.
func TestAuditUserIndexFormats(t *testing.T) {
	b := &mapBackend{m: map[string][]byte{}}
	s := New(b).(*typed)
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	at := time.Now().UTC().Add(-time.Hour)
	day, u, exp := []byte(auditDay(at)), auditUserHash("hana"), at.Add(time.Hour*24)
	// writeOld writes event n of the day the way an older version did.
	writeOld := func(n int64, e idp.AuditEvent, copyJSON bool) {
		t.Helper()
		v, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		for _, ctr := range [][]byte{auditKey('c', day), auditKey('d', day, u)} {
			if got, err := b.Incr(ctx, BucketAudit, ctr, exp); err != nil || got != n {
				t.Fatalf("counter %q = %d (%v), want %d", ctr, got, err, n)
			}
		}
		eventKey := auditKey('e', day, seqBytes(n))
		if err := b.Put(ctx, BucketAudit, eventKey, v, exp); err != nil {
			t.Fatal(err)
		}
		ref := eventKey
		if copyJSON {
			ref = v
		}
		if err := b.Put(ctx, BucketAudit, auditKey('f', day, u, seqBytes(n)), ref, exp); err != nil {
			t.Fatal(err)
		}
	}
	writeOld(1, idp.AuditEvent{Time: at, User: "hana", Result: idp.AuditSuccess, Reason: idp.ReasonPassword}, true)
	writeOld(2, idp.AuditEvent{Time: at.Add(time.Second), User: "hana", Result: idp.AuditSuccess, Reason: idp.ReasonSSOSession}, false)
	recent := idp.AuditEvent{Time: at.Add(time.Minute), User: "hana", Result: idp.AuditFailure, Reason: idp.ReasonInvalidCredentials}
	if err := s.PutAudit(ctx, recent); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, BucketAudit, auditKey('d', day, u, seqBytes(3))); err != nil {
		t.Errorf("the new event is not indexed right after hana's counter: %v", err)
	}
	if _, err := b.Get(ctx, BucketAudit, auditKey('f', day, u, seqBytes(3))); err == nil {
		t.Error("the new event is indexed in the old place too")
	}
	evs, err := s.ListAudit(ctx, idp.AuditQuery{User: "Hana"})
	if err != nil || len(evs) != 3 || evs[0].Reason != idp.ReasonInvalidCredentials || evs[1].Reason != idp.ReasonSSOSession || evs[2].Reason != idp.ReasonPassword {
		t.Fatalf("hana's events = %+v (%v), want the new one, then the two old-format ones", evs, err)
	}
}
