package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
)

// RunStore tests the idp.Store that store.New builds on the backend.
func RunStore(t *testing.T, nb NewBackend) {
	tests := []struct {
		name string
		fn   func(e *storeEnv)
	}{
		{"Session", testSession},
		{"Flow", testFlow},
		{"Code", testCode},
		{"Token", testToken},
		{"FirstUse", testFirstUse},
		{"InvalidRecords", testInvalidRecords},
		{"ConcurrentTakeFlow", testConcurrentTakeFlow},
		{"ConcurrentConsumeFlow", testConcurrentConsumeFlow},
		{"ConcurrentTakeCode", testConcurrentTakeCode},
		{"ConcurrentFirstUse", testConcurrentFirstUse},
		{"SecretsNotStored", testSecretsNotStored},
		{"MovedRecordIsCorrupt", testMovedRecord},
		{"CheckClose", testCheckClose},
		{"Audit", testAudit},
		{"AuditRetention", testAuditRetention},
		{"ConcurrentAudit", testConcurrentAudit},
		{"AuditBatch", testAuditBatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nb)
			rec := &Recorder{Backend: e.b}
			tc.fn(&storeEnv{env: e, s: store.New(rec), rec: rec})
		})
	}
}

type storeEnv struct {
	*env
	s   idp.Store
	rec *Recorder
}

// identity has every field set, attributes with several values included, so
// a JSON round trip that drops anything shows.
func identity() idp.Identity {
	return idp.Identity{
		Subject:     "2f1c8b3e-0c1d-4a7e-9d7b-5a4c3b2a1f00",
		Username:    "hong.gildong",
		Email:       "hong.gildong@example.co.kr",
		DisplayName: "홍길동",
		DN:          "uid=hong.gildong,ou=people,dc=example,dc=co,dc=kr",
		Groups:      []string{"cn=staff,ou=groups,dc=example,dc=co,dc=kr", "cn=dev,ou=groups,dc=example,dc=co,dc=kr"},
		Attributes: map[string][]string{
			"employeeNumber": {"20240117"},
			"mail":           {"hong.gildong@example.co.kr", "gildong@example.co.kr"},
		},
	}
}

func (e *storeEnv) session(ttl time.Duration) idp.Session {
	now := e.clk.Now()
	return idp.Session{
		ID: idp.NewTimedID(nil, now), Identity: identity(), AuthTime: now.Add(-time.Second),
		ExpiresAt: now.Add(ttl), ClientIP: "192.0.2.7", UserAgent: "Mozilla/5.0 (test)",
	}
}

func (e *storeEnv) flow(ttl time.Duration) idp.Flow {
	now := e.clk.Now()
	return idp.Flow{
		ID: idp.NewTimedID(nil, now), Protocol: "oauth", SP: "workplace", SPName: "NCP WORKPLACE",
		LoginHint: "hong.gildong", ForceAuthn: true, Payload: []byte(`{"state":"xyz","redirect_uri":"https://a.example/cb"}`),
		CreatedAt: now, ExpiresAt: now.Add(ttl),
	}
}

func (e *storeEnv) code(ttl time.Duration) idp.Code {
	now := e.clk.Now()
	return idp.Code{
		ID: idp.NewID(nil), ClientID: "workplace", RedirectURI: "https://a.example/cb?x=1",
		SessionID: idp.NewTimedID(nil, now), Identity: identity(), AuthTime: now.Add(-time.Second),
		TokenID: idp.NewTimedID(nil, now), ExpiresAt: now.Add(ttl),
	}
}

func (e *storeEnv) token(ttl time.Duration) idp.Token {
	now := e.clk.Now()
	return idp.Token{
		ID: idp.NewTimedID(nil, now), ClientID: "workplace", SessionID: idp.NewTimedID(nil, now),
		Identity: identity(), IssuedAt: now, ExpiresAt: now.Add(ttl),
	}
}

// wantEqual compares records after a JSON round trip, which keeps instants
// but not monotonic readings or locations: times are compared with Equal.
func wantEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(normalize(got), normalize(want)) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func normalize(v any) any {
	utc := func(t time.Time) time.Time { return t.UTC().Round(0) }
	switch r := v.(type) {
	case idp.Session:
		r.AuthTime, r.ExpiresAt = utc(r.AuthTime), utc(r.ExpiresAt)
		return r
	case idp.Flow:
		r.CreatedAt, r.ExpiresAt = utc(r.CreatedAt), utc(r.ExpiresAt)
		return r
	case idp.Code:
		r.AuthTime, r.ExpiresAt = utc(r.AuthTime), utc(r.ExpiresAt)
		return r
	case idp.Token:
		r.IssuedAt, r.ExpiresAt = utc(r.IssuedAt), utc(r.ExpiresAt)
		return r
	}
	return v
}

func testSession(e *storeEnv) {
	const ttl = 8 * time.Hour
	s := e.session(ttl)
	_, err := e.s.GetSession(e.ctx, s.ID)
	wantErr(e.t, "GetSession unknown", err, idp.ErrNotFound)
	wantErr(e.t, "PutSession", e.s.PutSession(e.ctx, s), nil)
	got, err := e.s.GetSession(e.ctx, s.ID)
	wantErr(e.t, "GetSession", err, nil)
	wantEqual(e.t, "GetSession", got, s)
	if got.Identity.Attribute("employeeNumber") != "20240117" {
		e.t.Fatalf("Identity.Attributes lost in round trip: %v", got.Identity.Attributes)
	}

	// Putting the same ID replaces the session.
	s.Identity.DisplayName = "renamed"
	wantErr(e.t, "PutSession again", e.s.PutSession(e.ctx, s), nil)
	got, err = e.s.GetSession(e.ctx, s.ID)
	wantErr(e.t, "GetSession after replace", err, nil)
	wantEqual(e.t, "GetSession after replace", got, s)

	// Deleted sessions are gone; deleting again or an unknown ID is fine.
	other := e.session(ttl)
	wantErr(e.t, "PutSession other", e.s.PutSession(e.ctx, other), nil)
	wantErr(e.t, "DeleteSession", e.s.DeleteSession(e.ctx, s.ID), nil)
	_, err = e.s.GetSession(e.ctx, s.ID)
	wantErr(e.t, "GetSession deleted", err, idp.ErrNotFound)
	wantErr(e.t, "DeleteSession again", e.s.DeleteSession(e.ctx, s.ID), nil)
	wantErr(e.t, "DeleteSession unknown", e.s.DeleteSession(e.ctx, idp.NewID(nil)), nil)
	_, err = e.s.GetSession(e.ctx, other.ID)
	wantErr(e.t, "GetSession of another session", err, nil)

	// Expired sessions are not found.
	e.clk.Advance(ttl)
	_, err = e.s.GetSession(e.ctx, other.ID)
	wantErr(e.t, "GetSession expired", err, idp.ErrNotFound)
}

func testFlow(e *storeEnv) {
	const ttl = 30 * time.Minute
	f := e.flow(ttl)
	wantErr(e.t, "PutFlow", e.s.PutFlow(e.ctx, f), nil)
	// GetFlow does not consume: the login page may render many times.
	for range 2 {
		got, err := e.s.GetFlow(e.ctx, f.ID)
		wantErr(e.t, "GetFlow", err, nil)
		wantEqual(e.t, "GetFlow", got, f)
	}
	got, err := e.s.TakeFlow(e.ctx, f.ID)
	wantErr(e.t, "TakeFlow", err, nil)
	wantEqual(e.t, "TakeFlow", got, f)
	_, err = e.s.TakeFlow(e.ctx, f.ID)
	wantErr(e.t, "second TakeFlow", err, idp.ErrNotFound)
	_, err = e.s.GetFlow(e.ctx, f.ID)
	wantErr(e.t, "GetFlow after take", err, idp.ErrNotFound)
	_, err = e.s.TakeFlow(e.ctx, idp.NewID(nil))
	wantErr(e.t, "TakeFlow unknown", err, idp.ErrNotFound)

	// ConsumeFlow removes what GetFlow read, once.
	read := e.flow(ttl)
	wantErr(e.t, "PutFlow", e.s.PutFlow(e.ctx, read), nil)
	wantErr(e.t, "ConsumeFlow", e.s.ConsumeFlow(e.ctx, read.ID), nil)
	wantErr(e.t, "second ConsumeFlow", e.s.ConsumeFlow(e.ctx, read.ID), idp.ErrNotFound)
	_, err = e.s.TakeFlow(e.ctx, read.ID)
	wantErr(e.t, "TakeFlow after ConsumeFlow", err, idp.ErrNotFound)
	_, err = e.s.GetFlow(e.ctx, read.ID)
	wantErr(e.t, "GetFlow after ConsumeFlow", err, idp.ErrNotFound)
	wantErr(e.t, "ConsumeFlow unknown", e.s.ConsumeFlow(e.ctx, idp.NewID(nil)), idp.ErrNotFound)
	wantErr(e.t, "ConsumeFlow empty ID", e.s.ConsumeFlow(e.ctx, ""), idp.ErrNotFound)

	late := e.flow(ttl)
	wantErr(e.t, "PutFlow", e.s.PutFlow(e.ctx, late), nil)
	e.clk.Advance(ttl)
	_, err = e.s.GetFlow(e.ctx, late.ID)
	wantErr(e.t, "GetFlow expired", err, idp.ErrNotFound)
	_, err = e.s.TakeFlow(e.ctx, late.ID)
	wantErr(e.t, "TakeFlow expired", err, idp.ErrNotFound)
	wantErr(e.t, "ConsumeFlow expired", e.s.ConsumeFlow(e.ctx, late.ID), idp.ErrNotFound)
}

func testCode(e *storeEnv) {
	const ttl = time.Minute
	c := e.code(ttl)
	_, err := e.s.TakeCode(e.ctx, c.ID)
	wantErr(e.t, "TakeCode unknown", err, idp.ErrNotFound)
	_, err = e.s.GetCode(e.ctx, c.ID)
	wantErr(e.t, "GetCode unknown", err, idp.ErrNotFound)
	wantErr(e.t, "PutCode", e.s.PutCode(e.ctx, c), nil)
	got, err := e.s.GetCode(e.ctx, c.ID)
	wantErr(e.t, "GetCode", err, nil)
	wantEqual(e.t, "GetCode", got, c)
	got, err = e.s.TakeCode(e.ctx, c.ID)
	wantErr(e.t, "TakeCode", err, nil)
	wantEqual(e.t, "TakeCode", got, c)
	_, err = e.s.GetCode(e.ctx, c.ID)
	wantErr(e.t, "GetCode spent", err, idp.ErrNotFound)

	// A replay gets the spent code, so the caller can revoke c.TokenID:
	// before the code's expiry and for the retention past it.
	for _, step := range []time.Duration{0, ttl, store.DefaultSpentCodeRetention - time.Second} {
		e.clk.Advance(step)
		got, err = e.s.TakeCode(e.ctx, c.ID)
		wantErr(e.t, "TakeCode replay", err, idp.ErrAlreadyUsed)
		if got.TokenID != c.TokenID || got.ID != c.ID {
			e.t.Fatalf("TakeCode replay returned %+v, want the spent code with TokenID %q", got, c.TokenID)
		}
	}
	e.clk.Advance(time.Second)
	_, err = e.s.TakeCode(e.ctx, c.ID)
	wantErr(e.t, "TakeCode replay after retention", err, idp.ErrNotFound)

	// An unredeemed code that expired is simply not found.
	unused := e.code(ttl)
	wantErr(e.t, "PutCode", e.s.PutCode(e.ctx, unused), nil)
	e.clk.Advance(ttl)
	_, err = e.s.TakeCode(e.ctx, unused.ID)
	wantErr(e.t, "TakeCode expired", err, idp.ErrNotFound)
	_, err = e.s.TakeCode(e.ctx, unused.ID)
	wantErr(e.t, "TakeCode expired again", err, idp.ErrNotFound)
}

func testToken(e *storeEnv) {
	const ttl = time.Hour
	tok := e.token(ttl)
	_, err := e.s.GetToken(e.ctx, tok.ID)
	wantErr(e.t, "GetToken unknown", err, idp.ErrNotFound)
	wantErr(e.t, "PutToken", e.s.PutToken(e.ctx, tok), nil)
	got, err := e.s.GetToken(e.ctx, tok.ID)
	wantErr(e.t, "GetToken", err, nil)
	wantEqual(e.t, "GetToken", got, tok)
	wantErr(e.t, "RevokeToken", e.s.RevokeToken(e.ctx, tok.ID), nil)
	_, err = e.s.GetToken(e.ctx, tok.ID)
	wantErr(e.t, "GetToken revoked", err, idp.ErrNotFound)
	wantErr(e.t, "RevokeToken unknown", e.s.RevokeToken(e.ctx, tok.ID), nil)

	live := e.token(ttl)
	wantErr(e.t, "PutToken", e.s.PutToken(e.ctx, live), nil)
	e.clk.Advance(ttl)
	_, err = e.s.GetToken(e.ctx, live.ID)
	wantErr(e.t, "GetToken expired", err, idp.ErrNotFound)
}

func (e *storeEnv) firstUse(ns, id string, ttl time.Duration, want bool) {
	e.t.Helper()
	got, err := e.s.FirstUse(e.ctx, ns, id, e.clk.Now().Add(ttl))
	wantErr(e.t, "FirstUse", err, nil)
	if got != want {
		e.t.Fatalf("FirstUse(%q, %q) = %v, want %v", ns, id, got, want)
	}
}

func testFirstUse(e *storeEnv) {
	const ttl = 5 * time.Minute
	e.firstUse("saml", "id-1", ttl, true)
	e.firstUse("saml", "id-1", ttl, false)
	e.firstUse("saml", "id-2", ttl, true)
	e.firstUse("nonce", "id-1", ttl, true)
	// Namespace and ID are not simply concatenated.
	e.firstUse("sam", "lid-1", ttl, true)
	e.clk.Advance(ttl - time.Second)
	e.firstUse("saml", "id-1", ttl, false)
	// The first record's expiry stands: later calls do not extend it.
	e.clk.Advance(time.Second)
	e.firstUse("saml", "id-1", ttl, true)
	e.firstUse("saml", "id-1", ttl, false)
}

func testInvalidRecords(e *storeEnv) {
	noID := e.session(time.Hour)
	noID.ID = ""
	wantErr(e.t, "PutSession without ID", e.s.PutSession(e.ctx, noID), store.ErrInvalid)
	noExp := e.session(time.Hour)
	noExp.ExpiresAt = time.Time{}
	wantErr(e.t, "PutSession without expiry", e.s.PutSession(e.ctx, noExp), store.ErrInvalid)
	f := e.flow(time.Hour)
	f.ID = ""
	wantErr(e.t, "PutFlow without ID", e.s.PutFlow(e.ctx, f), store.ErrInvalid)
	c := e.code(time.Hour)
	c.ExpiresAt = time.Time{}
	wantErr(e.t, "PutCode without expiry", e.s.PutCode(e.ctx, c), store.ErrInvalid)
	tok := e.token(time.Hour)
	tok.ID = ""
	wantErr(e.t, "PutToken without ID", e.s.PutToken(e.ctx, tok), store.ErrInvalid)
	_, err := e.s.FirstUse(e.ctx, "saml", "", e.clk.Now().Add(time.Hour))
	wantErr(e.t, "FirstUse empty ID", err, store.ErrInvalid)
	_, err = e.s.FirstUse(e.ctx, "saml", "x", time.Time{})
	wantErr(e.t, "FirstUse zero expiry", err, store.ErrInvalid)

	// Empty IDs are never found, whatever was refused above.
	_, err = e.s.GetSession(e.ctx, "")
	wantErr(e.t, "GetSession empty", err, idp.ErrNotFound)
	_, err = e.s.TakeFlow(e.ctx, "")
	wantErr(e.t, "TakeFlow empty", err, idp.ErrNotFound)
	_, err = e.s.TakeCode(e.ctx, "")
	wantErr(e.t, "TakeCode empty", err, idp.ErrNotFound)
	if len(e.rec.Writes()) != 0 {
		e.t.Fatalf("refused records reached the backend: %d writes", len(e.rec.Writes()))
	}
}

func testConcurrentTakeFlow(e *storeEnv) {
	f := e.flow(time.Minute)
	wantErr(e.t, "PutFlow", e.s.PutFlow(e.ctx, f), nil)
	res := race(func() error {
		got, err := e.s.TakeFlow(e.ctx, f.ID)
		if err == nil && got.ID != f.ID {
			return errors.New("wrong flow")
		}
		return err
	})
	wantOneWinner(e.t, "TakeFlow", res, idp.ErrNotFound)
}

func testConcurrentConsumeFlow(e *storeEnv) {
	f := e.flow(time.Minute)
	wantErr(e.t, "PutFlow", e.s.PutFlow(e.ctx, f), nil)
	res := race(func() error { return e.s.ConsumeFlow(e.ctx, f.ID) })
	wantOneWinner(e.t, "ConsumeFlow", res, idp.ErrNotFound)
}

func testConcurrentTakeCode(e *storeEnv) {
	c := e.code(time.Minute)
	wantErr(e.t, "PutCode", e.s.PutCode(e.ctx, c), nil)
	res := race(func() error {
		got, err := e.s.TakeCode(e.ctx, c.ID)
		if (err == nil || errors.Is(err, idp.ErrAlreadyUsed)) && got.TokenID != c.TokenID {
			return errors.New("take returned a code without its TokenID")
		}
		return err
	})
	wantOneWinner(e.t, "TakeCode", res, idp.ErrAlreadyUsed)
}

func testConcurrentFirstUse(e *storeEnv) {
	exp := e.clk.Now().Add(time.Minute)
	res := race(func() error {
		first, err := e.s.FirstUse(e.ctx, "saml", "_a1b2c3", exp)
		if err == nil && !first {
			return errLost
		}
		return err
	})
	wantOneWinner(e.t, "FirstUse", res, errLost)
}

func testCheckClose(e *storeEnv) {
	wantErr(e.t, "Check", e.s.Check(e.ctx), nil)
	wantErr(e.t, "Close", e.s.Close(), nil)
	wantErr(e.t, "Check after Close", e.s.Check(e.ctx), idp.ErrStoreUnavailable)
	_, err := e.s.GetSession(e.ctx, idp.NewID(nil))
	wantErr(e.t, "GetSession after Close", err, idp.ErrStoreUnavailable)
}
