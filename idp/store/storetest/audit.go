package storetest

import (
	"fmt"
	"sync"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
)

// auditStore returns the AuditStore of the typed store, failing the test
// when it has none.
func (e *storeEnv) auditStore(s idp.Store) idp.AuditStore {
	e.t.Helper()
	as, ok := s.(idp.AuditStore)
	if !ok {
		e.t.Fatalf("%T does not implement idp.AuditStore", s)
	}
	return as
}

func auditEvent(at time.Time, user, login string, result idp.AuditResult, reason string) idp.AuditEvent {
	return idp.AuditEvent{
		Time: at, RequestID: "REQ" + at.Format("150405.000"), User: user, Login: login,
		SP: "workplace", Mode: "oauth", Result: result, Reason: reason,
		IP: "192.0.2.7", UserAgent: "Mozilla/5.0 (test)",
	}
}

// users returns the users of events, in order.
func users(es []idp.AuditEvent) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.User + "@" + e.Time.UTC().Format("01-02T15:04")
	}
	return out
}

// testAudit records events over several days and reads them back: newest
// first, by user (under the directory name and the name as typed,
// case-insensitively), bounded by Limit and Before.
func testAudit(e *storeEnv) {
	as := e.auditStore(e.s)
	t0 := e.clk.Now()
	evs := []idp.AuditEvent{
		auditEvent(t0, "alice", "", idp.AuditSuccess, idp.ReasonPassword),
		auditEvent(t0.Add(time.Minute), "bob", "", idp.AuditFailure, idp.ReasonInvalidCredentials),
		auditEvent(t0.Add(25*time.Hour), "alice", `EXAMPLE\Alice`, idp.AuditDenied, string(idp.StateNotPermitted)),
		auditEvent(t0.Add(49*time.Hour), "carol", "", idp.AuditError, idp.ReasonDirectoryUnavailable),
		auditEvent(t0.Add(49*time.Hour+time.Second), "alice", "", idp.AuditSuccess, idp.ReasonSSOSession),
	}
	for _, ev := range evs {
		wantErr(e.t, "PutAudit", as.PutAudit(e.ctx, ev), nil)
	}
	e.clk.Advance(50 * time.Hour)
	now := e.clk.Now()
	all, err := as.ListAudit(e.ctx, idp.AuditQuery{Before: now})
	wantErr(e.t, "ListAudit", err, nil)
	if len(all) != len(evs) {
		e.t.Fatalf("ListAudit = %v, want all %d events", users(all), len(evs))
	}
	for i := range all {
		wantEqual(e.t, fmt.Sprintf("event %d (newest first)", i), normalizeAudit(all[i]), normalizeAudit(evs[len(evs)-1-i]))
	}
	tests := []struct {
		name string
		q    idp.AuditQuery
		want []idp.AuditEvent
	}{
		{"by user", idp.AuditQuery{User: "alice", Before: now}, []idp.AuditEvent{evs[4], evs[2], evs[0]}},
		{"by user, case-insensitive", idp.AuditQuery{User: " ALICE ", Before: now}, []idp.AuditEvent{evs[4], evs[2], evs[0]}},
		{"by name as typed", idp.AuditQuery{User: `example\alice`, Before: now}, []idp.AuditEvent{evs[2]}},
		{"other user", idp.AuditQuery{User: "bob", Before: now}, []idp.AuditEvent{evs[1]}},
		{"unknown user", idp.AuditQuery{User: "mallory", Before: now}, nil},
		{"limit", idp.AuditQuery{Limit: 2, Before: now}, []idp.AuditEvent{evs[4], evs[3]}},
		{"before", idp.AuditQuery{Before: t0.Add(25 * time.Hour)}, []idp.AuditEvent{evs[1], evs[0]}},
		{"user and before", idp.AuditQuery{User: "alice", Before: t0.Add(49 * time.Hour)}, []idp.AuditEvent{evs[2], evs[0]}},
	}
	for _, tc := range tests {
		got, err := as.ListAudit(e.ctx, tc.q)
		wantErr(e.t, tc.name, err, nil)
		if len(got) != len(tc.want) {
			e.t.Fatalf("%s: got %v, want %v", tc.name, users(got), users(tc.want))
		}
		for i := range got {
			wantEqual(e.t, tc.name, normalizeAudit(got[i]), normalizeAudit(tc.want[i]))
		}
	}
	if err := as.PutAudit(e.ctx, idp.AuditEvent{User: "x"}); err == nil {
		e.t.Fatal("PutAudit with a zero time: no error")
	}
}

func normalizeAudit(ev idp.AuditEvent) idp.AuditEvent {
	ev.Time = ev.Time.UTC().Round(0)
	return ev
}

// testAuditRetention: events are listed until their time plus the
// retention, and then swept from the backend.
func testAuditRetention(e *storeEnv) {
	const retention = 2 * time.Hour
	as := e.auditStore(store.New(e.rec, store.WithAuditRetention(retention)))
	t0 := e.clk.Now()
	wantErr(e.t, "PutAudit", as.PutAudit(e.ctx, auditEvent(t0, "alice", "", idp.AuditSuccess, idp.ReasonPassword)), nil)
	wantErr(e.t, "PutAudit", as.PutAudit(e.ctx, auditEvent(t0.Add(time.Hour), "bob", "", idp.AuditSuccess, idp.ReasonPassword)), nil)
	count := func(user string) int {
		e.t.Helper()
		got, err := as.ListAudit(e.ctx, idp.AuditQuery{User: user, Before: e.clk.Now().Add(time.Second)})
		wantErr(e.t, "ListAudit", err, nil)
		return len(got)
	}
	e.clk.Advance(retention - time.Second)
	if n, m := count(""), count("alice"); n != 2 || m != 1 {
		e.t.Fatalf("just inside the retention: %d events (%d of alice), want 2 (1)", n, m)
	}
	e.clk.Advance(time.Second)
	if n, m := count(""), count("alice"); n != 1 || m != 0 {
		e.t.Fatalf("alice's event past the retention: %d events (%d of alice), want 1 (0)", n, m)
	}
	e.clk.Advance(time.Hour)
	if n := count(""); n != 0 {
		e.t.Fatalf("every event past the retention: %d events listed", n)
	}
	swept, err := e.b.Sweep(e.ctx)
	wantErr(e.t, "Sweep", err, nil)
	// Two events, each stored under the day and under its user.
	if swept < 4 {
		e.t.Fatalf("Sweep removed %d records, want the 4 expired event records at least", swept)
	}
}

// testConcurrentAudit: events recorded at once are all kept, each once.
func testConcurrentAudit(e *storeEnv) {
	as := e.auditStore(e.s)
	t0 := e.clk.Now()
	var mu sync.Mutex
	i := 0
	errs := race(func() error {
		mu.Lock()
		i++
		ev := auditEvent(t0.Add(time.Duration(i)*time.Millisecond), "alice", "", idp.AuditSuccess, idp.ReasonPassword)
		mu.Unlock()
		return as.PutAudit(e.ctx, ev)
	})
	for _, err := range errs {
		wantErr(e.t, "PutAudit", err, nil)
	}
	got, err := as.ListAudit(e.ctx, idp.AuditQuery{User: "alice", Limit: 1000, Before: t0.Add(time.Minute)})
	wantErr(e.t, "ListAudit", err, nil)
	seen := map[string]bool{}
	for _, ev := range got {
		seen[ev.RequestID] = true
	}
	if len(got) != Workers || len(seen) != Workers {
		e.t.Fatalf("%d events listed (%d distinct), want %d", len(got), len(seen), Workers)
	}
}

// testAuditBatch stores a batch (what idp/audit hands over) of events of
// several users, across midnight: every event is listed, under its day and
// under its user; a batch with an event without a time stores nothing.
func testAuditBatch(e *storeEnv) {
	as := e.auditStore(e.s)
	y, m, d := e.clk.Now().UTC().Date()
	t0 := time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC).Add(-20 * time.Millisecond)
	var batch []idp.AuditEvent
	perUser := map[string]int{}
	for i := range 40 {
		u := fmt.Sprintf("user%d", i%5)
		perUser[u]++
		batch = append(batch, auditEvent(t0.Add(time.Duration(i)*time.Millisecond), u, "", idp.AuditSuccess, idp.ReasonPassword))
	}
	bad := append(append([]idp.AuditEvent{}, batch[:3]...), idp.AuditEvent{User: "nobody"})
	if err := as.PutAudit(e.ctx, bad...); err == nil {
		e.t.Fatal("PutAudit of a batch with a zero time: no error")
	}
	wantErr(e.t, "PutAudit batch", as.PutAudit(e.ctx, batch...), nil)
	before := t0.Add(time.Second)
	all, err := as.ListAudit(e.ctx, idp.AuditQuery{Before: before, Limit: 100})
	wantErr(e.t, "ListAudit", err, nil)
	if len(all) != len(batch) {
		e.t.Fatalf("ListAudit after a batch of %d (and a refused one): %d events", len(batch), len(all))
	}
	for u, n := range perUser {
		got, err := as.ListAudit(e.ctx, idp.AuditQuery{User: u, Before: before, Limit: 100})
		wantErr(e.t, "ListAudit "+u, err, nil)
		if len(got) != n {
			e.t.Errorf("ListAudit %s: %d events, want %d", u, len(got), n)
		}
	}
}
