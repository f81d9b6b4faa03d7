package store

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"time"

	"github.com/ncp-sso/idp/idp"
)

// Buckets used by the typed adapter. Other users of a Backend (a login
// throttle, say) must pick names of their own.
const (
	BucketSessions = "sessions"
	BucketFlows    = "flows"
	BucketCodes    = "codes"
	BucketTokens   = "tokens"
	BucketReplay   = "replay"
)

// DefaultSpentCodeRetention is how long past its expiry a redeemed code is
// remembered, so that a replay still gets idp.ErrAlreadyUsed (and the caller
// revokes the token issued from it) instead of idp.ErrNotFound.
//
// Two minutes cover a replay racing the redemption or retried by a
// confused SP, which is what revocation is for; a later replay is still
// refused, as an unknown code. Where codes are kept in process memory
// (store.short_lived) each remembered code holds about 300 bytes there (a
// resealed tombstone with only what a replay needs: see TakeCode), so the
// retention bounds that memory to a few minutes of sign-ins.
const DefaultSpentCodeRetention = 2 * time.Minute

// Option configures New.
type Option func(*typed)

// WithSpentCodeRetention sets how long past its expiry a redeemed code is
// remembered (default DefaultSpentCodeRetention). Negative values are
// treated as zero.
func WithSpentCodeRetention(d time.Duration) Option {
	return func(s *typed) { s.retention = max(d, 0) }
}

// WithRand sets the randomness source for sealing nonces (default
// crypto/rand.Reader).
func WithRand(r io.Reader) Option {
	return func(s *typed) { s.seal.rand = r }
}

// typed implements idp.Store on a Backend. It is unexported because the
// core interfaces are all its callers need.
type typed struct {
	b         Backend
	seal      sealer
	retention time.Duration
	// auditRetention is how long audit events are kept (audit.go).
	auditRetention time.Duration
}

var _ idp.Store = (*typed)(nil)

// New returns an idp.Store that keeps sessions, flows, codes, tokens and
// replay entries in b. Closing the returned store closes b.
func New(b Backend, opts ...Option) idp.Store {
	s := &typed{b: b, seal: sealer{rand: rand.Reader}, retention: DefaultSpentCodeRetention, auditRetention: DefaultAuditRetention}
	for _, o := range opts {
		o(s)
	}
	return s
}

// put seals v under id's key and stores it until exp.
func (s *typed) put(ctx context.Context, bucket, id string, v any, exp time.Time) error {
	if id == "" {
		return fmt.Errorf("store: put %s: %w: empty ID", bucket, ErrInvalid)
	}
	if err := CheckExpiry(exp); err != nil {
		return fmt.Errorf("store: put %s: %w", bucket, err)
	}
	pt, err := marshalRecord(v)
	if err != nil {
		return fmt.Errorf("store: put %s: encode: %w", bucket, err)
	}
	key := lookupKey(id)
	sealed, err := s.seal.seal(bucket, id, key, pt)
	if err != nil {
		return err
	}
	return s.b.Put(ctx, bucket, key, sealed, exp)
}

// decode opens a sealed record of id and decodes it into v.
func (s *typed) decode(bucket, id string, key, sealed []byte, v any) error {
	pt, err := s.seal.open(bucket, id, key, sealed)
	if err != nil {
		return err
	}
	if err := unmarshalRecord(pt, v); err != nil {
		return fmt.Errorf("%w: %s record: %w", ErrCorrupt, bucket, err)
	}
	return nil
}

// get reads (or with take, atomically removes) the record of id into v.
func (s *typed) get(ctx context.Context, bucket, id string, take bool, v any) error {
	if id == "" {
		// Nothing is ever stored under an empty ID.
		return idp.ErrNotFound
	}
	key := lookupKey(id)
	read := s.b.Get
	if take {
		read = s.b.Take
	}
	sealed, err := read(ctx, bucket, key)
	if err != nil {
		return err
	}
	return s.decode(bucket, id, key, sealed, v)
}

// PutSession stores s until s.ExpiresAt, replacing a session of the same ID.
func (s *typed) PutSession(ctx context.Context, sess idp.Session) error {
	return s.put(ctx, BucketSessions, sess.ID, sess, sess.ExpiresAt)
}

// GetSession returns idp.ErrNotFound for unknown and expired sessions.
func (s *typed) GetSession(ctx context.Context, id string) (idp.Session, error) {
	var sess idp.Session
	if err := s.get(ctx, BucketSessions, id, false, &sess); err != nil {
		return idp.Session{}, err
	}
	return sess, nil
}

// DeleteSession removes the session; deleting an unknown one is not an error.
func (s *typed) DeleteSession(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	return s.b.Delete(ctx, BucketSessions, lookupKey(id))
}

// PutFlow stores f until f.ExpiresAt.
func (s *typed) PutFlow(ctx context.Context, f idp.Flow) error {
	return s.put(ctx, BucketFlows, f.ID, f, f.ExpiresAt)
}

// GetFlow reads a Flow without consuming it.
func (s *typed) GetFlow(ctx context.Context, id string) (idp.Flow, error) {
	var f idp.Flow
	if err := s.get(ctx, BucketFlows, id, false, &f); err != nil {
		return idp.Flow{}, err
	}
	return f, nil
}

// TakeFlow atomically returns and removes a Flow (Backend.Take).
func (s *typed) TakeFlow(ctx context.Context, id string) (idp.Flow, error) {
	var f idp.Flow
	if err := s.get(ctx, BucketFlows, id, true, &f); err != nil {
		return idp.Flow{}, err
	}
	return f, nil
}

// ConsumeFlow removes a Flow the caller read with GetFlow (Backend.Take),
// without opening it a second time.
func (s *typed) ConsumeFlow(ctx context.Context, id string) error {
	if id == "" {
		return idp.ErrNotFound
	}
	_, err := s.b.Take(ctx, BucketFlows, lookupKey(id))
	return err
}

// PutCode stores c until c.ExpiresAt.
func (s *typed) PutCode(ctx context.Context, c idp.Code) error {
	return s.put(ctx, BucketCodes, c.ID, c, c.ExpiresAt)
}

// TakeCode consumes a code with Backend.Consume: the first take gets the
// Code; later takes, until the code's expiry plus the spent-code retention,
// get the Code with idp.ErrAlreadyUsed so the caller can revoke the token
// named by Code.TokenID. A backend that is a store.Shrinker keeps only the
// code's ID, ClientID, TokenID and ExpiresAt for those later takes.
func (s *typed) TakeCode(ctx context.Context, id string) (idp.Code, error) {
	if id == "" {
		return idp.Code{}, idp.ErrNotFound
	}
	key := lookupKey(id)
	var c idp.Code
	opened := false
	sealed, first, err := consume(ctx, s.b, BucketCodes, key, s.retention, func(sealed []byte) []byte {
		small, ok := s.spentCode(id, key, sealed, &c)
		opened = ok
		return small
	})
	if err != nil {
		return idp.Code{}, err
	}
	if !opened {
		if err := s.decode(BucketCodes, id, key, sealed, &c); err != nil {
			return idp.Code{}, err
		}
	}
	if !first {
		return c, idp.ErrAlreadyUsed
	}
	return c, nil
}

// spentCode is the tombstone of a code the backend keeps after its first
// take, where it can (store.Shrinker): the code with only what a replay
// needs (the client, for the log, and the token to revoke), sealed anew,
// about half the record. It opens sealed into c on the way (ok), so that
// TakeCode does not open it twice; a record that does not open keeps its
// tombstone whole (nil) and TakeCode reports it.
func (s *typed) spentCode(id string, key, sealed []byte, c *idp.Code) (small []byte, ok bool) {
	if err := s.decode(BucketCodes, id, key, sealed, c); err != nil {
		return nil, false
	}
	pt, err := marshalRecord(idp.Code{ID: c.ID, ClientID: c.ClientID, TokenID: c.TokenID, ExpiresAt: c.ExpiresAt})
	if err != nil {
		return nil, true
	}
	small, err = s.seal.seal(BucketCodes, id, key, pt)
	if err != nil {
		return nil, true
	}
	return small, true
}

// GetCode reads a live, unspent code (Backend.Get: a tombstone is absent).
func (s *typed) GetCode(ctx context.Context, id string) (idp.Code, error) {
	var c idp.Code
	if err := s.get(ctx, BucketCodes, id, false, &c); err != nil {
		return idp.Code{}, err
	}
	return c, nil
}

// PutToken stores t until t.ExpiresAt.
func (s *typed) PutToken(ctx context.Context, t idp.Token) error {
	return s.put(ctx, BucketTokens, t.ID, t, t.ExpiresAt)
}

// GetToken returns idp.ErrNotFound for unknown, revoked and expired tokens.
func (s *typed) GetToken(ctx context.Context, id string) (idp.Token, error) {
	var t idp.Token
	if err := s.get(ctx, BucketTokens, id, false, &t); err != nil {
		return idp.Token{}, err
	}
	return t, nil
}

// RevokeToken deletes a token; revoking an unknown token is not an error.
func (s *typed) RevokeToken(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	return s.b.Delete(ctx, BucketTokens, lookupKey(id))
}

// FirstUse records (namespace, id) until expiresAt with Backend.PutIfAbsent.
func (s *typed) FirstUse(ctx context.Context, namespace, id string, expiresAt time.Time) (bool, error) {
	if id == "" {
		return false, fmt.Errorf("store: first use: %w: empty ID", ErrInvalid)
	}
	if err := CheckExpiry(expiresAt); err != nil {
		return false, fmt.Errorf("store: first use: %w", err)
	}
	return s.b.PutIfAbsent(ctx, BucketReplay, replayKey(namespace, id), []byte{1}, expiresAt)
}

// Check reports whether the backend can serve.
func (s *typed) Check(ctx context.Context) error { return s.b.Check(ctx) }

// Close closes the backend.
func (s *typed) Close() error { return s.b.Close() }
