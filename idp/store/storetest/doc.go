// Package storetest is the conformance suite every store.Backend must pass.
// A backend's test calls Run with a constructor that builds a fresh backend
// on the suite's fake clock:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, now func() time.Time) store.Backend {
//			b := memory.New(memory.WithClock(now))
//			t.Cleanup(func() { b.Close() })
//			return b
//		})
//	}
//
// It covers the primitives (values, expiry by the injected clock, Take,
// Consume tombstones, PutIfAbsent, Incr windows, Sweep, cancelled contexts,
// use after Close, and races of Workers goroutines for one record) and the
// idp.Store that store.New builds on the backend (round trips of every core
// type, single-use flows and codes, replayed codes returning ErrAlreadyUsed
// with their TokenID, FirstUse, concurrency, that no secret ID or
// identity data ever reaches the backend in the clear, and the audit events
// of idp.AuditStore: by user, newest first, kept for the retention and then
// swept).
package storetest
