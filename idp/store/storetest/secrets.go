package storetest

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
)

// Write is one record handed to a backend.
type Write struct {
	Bucket     string
	Key, Value []byte
}

// Recorder is a store.Backend that passes every call on to Backend and
// remembers each record written, so tests can inspect exactly what a
// backend was given to keep.
type Recorder struct {
	store.Backend

	mu     sync.Mutex
	writes []Write
}

func (r *Recorder) record(bucket string, key, value []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, Write{bucket, bytes.Clone(key), bytes.Clone(value)})
}

// Writes returns the records written so far.
func (r *Recorder) Writes() []Write {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Write(nil), r.writes...)
}

// Put records and passes on.
func (r *Recorder) Put(ctx context.Context, bucket string, key, value []byte, exp time.Time) error {
	r.record(bucket, key, value)
	return r.Backend.Put(ctx, bucket, key, value, exp)
}

// PutIfAbsent records and passes on.
func (r *Recorder) PutIfAbsent(ctx context.Context, bucket string, key, value []byte, exp time.Time) (bool, error) {
	r.record(bucket, key, value)
	return r.Backend.PutIfAbsent(ctx, bucket, key, value, exp)
}

// Incr records and passes on.
func (r *Recorder) Incr(ctx context.Context, bucket string, key []byte, exp time.Time) (int64, error) {
	r.record(bucket, key, nil)
	return r.Backend.Incr(ctx, bucket, key, exp)
}

// Secrets returns the strings of a set of stored records that must never
// reach a backend in the clear: every ID that grants something, and the
// personal data of the identity they carry.
func Secrets(s idp.Session, f idp.Flow, c idp.Code, t idp.Token) []string {
	return []string{
		s.ID, f.ID, c.ID, c.SessionID, c.TokenID, t.ID, t.SessionID,
		s.Identity.Email, s.Identity.DisplayName, c.Identity.Subject, t.Identity.Username,
		string(f.Payload),
	}
}

// putAll stores one record of each secret-keyed kind and returns them.
func (e *storeEnv) putAll() (idp.Session, idp.Flow, idp.Code, idp.Token) {
	e.t.Helper()
	s, f, c, tok := e.session(time.Hour), e.flow(time.Hour), e.code(time.Minute), e.token(time.Hour)
	wantErr(e.t, "PutSession", e.s.PutSession(e.ctx, s), nil)
	wantErr(e.t, "PutFlow", e.s.PutFlow(e.ctx, f), nil)
	wantErr(e.t, "PutCode", e.s.PutCode(e.ctx, c), nil)
	wantErr(e.t, "PutToken", e.s.PutToken(e.ctx, tok), nil)
	return s, f, c, tok
}

// WantAbsent fails if any secret occurs in data. It names the secret by its
// index in secrets, not by value.
func WantAbsent(t *testing.T, where string, data []byte, secrets []string) {
	t.Helper()
	for i, s := range secrets {
		if bytes.Contains(data, []byte(s)) {
			t.Errorf("%s contains secret #%d", where, i)
		}
	}
}

func testSecretsNotStored(e *storeEnv) {
	s, f, c, tok := e.putAll()
	// Take the code so its tombstone is written too.
	if _, err := e.s.TakeCode(e.ctx, c.ID); err != nil {
		e.t.Fatalf("TakeCode: %v", err)
	}
	secrets := Secrets(s, f, c, tok)
	writes := e.rec.Writes()
	if len(writes) != 4 {
		e.t.Fatalf("backend got %d writes, want 4", len(writes))
	}
	for _, w := range writes {
		WantAbsent(e.t, "key in "+w.Bucket, w.Key, secrets)
		WantAbsent(e.t, "value in "+w.Bucket, w.Value, secrets)
		// Keys are SHA-256 sized, whatever the ID's length, after the
		// creation time of a session's, flow's or token's timed ID.
		want := 32
		if w.Bucket == store.BucketSessions || w.Bucket == store.BucketFlows || w.Bucket == store.BucketTokens {
			want += idp.TimePrefixBytes
		}
		if len(w.Key) != want {
			e.t.Errorf("key in %s is %d bytes, want %d", w.Bucket, len(w.Key), want)
		}
	}
	// Two writes of one session are sealed differently (fresh nonces).
	wantErr(e.t, "PutSession again", e.s.PutSession(e.ctx, s), nil)
	writes = e.rec.Writes()
	if bytes.Equal(writes[0].Value, writes[len(writes)-1].Value) {
		e.t.Error("the same session sealed twice gives identical bytes: nonce reused")
	}
}

// testMovedRecord copies one session's stored bytes under another
// session's key: the record must not open as the other session.
func testMovedRecord(e *storeEnv) {
	a, b := e.session(time.Hour), e.session(time.Hour)
	wantErr(e.t, "PutSession a", e.s.PutSession(e.ctx, a), nil)
	wantErr(e.t, "PutSession b", e.s.PutSession(e.ctx, b), nil)
	w := e.rec.Writes()
	wa, wb := w[0], w[1]
	if err := e.b.Put(e.ctx, wb.Bucket, wb.Key, wa.Value, b.ExpiresAt); err != nil {
		e.t.Fatalf("Put: %v", err)
	}
	got, err := e.s.GetSession(e.ctx, b.ID)
	wantErr(e.t, "GetSession of a moved record", err, store.ErrCorrupt)
	if got.ID != "" {
		e.t.Fatalf("GetSession of a moved record returned a session: %+v", got)
	}
	// Truncated bytes are corrupt too, not a panic.
	if err := e.b.Put(e.ctx, wb.Bucket, wb.Key, wb.Value[:5], b.ExpiresAt); err != nil {
		e.t.Fatalf("Put: %v", err)
	}
	_, err = e.s.GetSession(e.ctx, b.ID)
	wantErr(e.t, "GetSession of a truncated record", err, store.ErrCorrupt)
	_, err = e.s.GetSession(e.ctx, a.ID)
	wantErr(e.t, "GetSession a", err, nil)
}
