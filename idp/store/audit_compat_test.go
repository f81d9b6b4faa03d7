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

// TestAuditUserIndexFormats: a user's index entries written before they
// became references to the day's event (a JSON copy of the event) are
// still listed, beside new ones, newest first.
func TestAuditUserIndexFormats(t *testing.T) {
	b := &mapBackend{m: map[string][]byte{}}
	s := New(b).(*typed)
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	at := time.Now().UTC().Add(-time.Hour)
	old := idp.AuditEvent{Time: at, User: "hana", Result: idp.AuditSuccess, Reason: idp.ReasonPassword}
	v, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	day, u, exp := []byte(auditDay(at)), auditUserHash("hana"), at.Add(time.Hour*24)
	if _, err := b.Incr(ctx, BucketAudit, auditKey('c', day), exp); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, BucketAudit, auditKey('e', day, seqBytes(1)), v, exp); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Incr(ctx, BucketAudit, auditKey('d', day, u), exp); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, BucketAudit, auditKey('f', day, u, seqBytes(1)), v, exp); err != nil {
		t.Fatal(err)
	}
	recent := idp.AuditEvent{Time: at.Add(time.Minute), User: "hana", Result: idp.AuditFailure, Reason: idp.ReasonInvalidCredentials}
	if err := s.PutAudit(ctx, recent); err != nil {
		t.Fatal(err)
	}
	evs, err := s.ListAudit(ctx, idp.AuditQuery{User: "Hana"})
	if err != nil || len(evs) != 2 || evs[0].Reason != idp.ReasonInvalidCredentials || evs[1].Reason != idp.ReasonPassword {
		t.Fatalf("hana's events = %+v (%v), want the new one, then the old-format one", evs, err)
	}
}
