// Package store keeps the identity provider's short-lived state (SSO
// sessions, pending login flows, authorization codes, access tokens and
// replay-guard entries) on top of a small key-value Backend.
//
// Two layers:
//
//   - Backend is a handful of primitives with expiry: Put, Get, Delete,
//     Take (atomic get and delete), Consume (atomic mark-as-used), PutIfAbsent
//     (atomic insert), Incr (atomic counter in a fixed window), plus Sweep,
//     Check and Close. Backends live in sub-packages (memory, boltstore,
//     redisstore) and must pass the conformance suite in storetest;
//     redisstore implements Take, Consume, PutIfAbsent and Incr as Lua
//     scripts so that they are atomic across idp instances.
//   - New adapts any Backend to idp.Store: it JSON-encodes the core types
//     and maps each store method onto one primitive, so every single-use
//     guarantee is one atomic backend call.
//
// Expiry is enforced on every read: a record is live while now < expiresAt,
// by the backend's injected clock, whether or not a sweeper has removed it.
//
// Why Consume and not Take for codes: a replayed code must return the spent
// Code with idp.ErrAlreadyUsed (so the caller can revoke Code.TokenID) until
// the code's expiry plus a retention (WithSpentCodeRetention, default 10
// minutes). Take followed by writing a "spent" marker would leave a window in
// which a concurrent replay finds neither the code nor the marker and gets
// idp.ErrNotFound, so nothing would be revoked. Consume turns the record into
// a tombstone and extends its expiry in the same atomic step; tombstones are
// visible to Consume only.
//
// Secrets at rest: sessions, flows, codes and tokens are stored under
// SHA-256 of their secret ID (with a fixed label; for sessions, flows and
// tokens after the creation time their ID begins with), never the ID itself, and
// the record is sealed with AES-256-GCM under a key derived from the ID with
// a different label. A copy of the database therefore yields no live session
// ID, code or token, neither as a key nor inside another record (a Code names
// its SessionID and TokenID), and no identity data. Only whoever presents the
// ID can find and open its record. Replay-guard entries are hashed too.
//
// Split routes buckets to two backends: `idp serve` keeps ShortLivedBuckets
// (flows, codes, replay markers, counters) and the login throttle's bucket
// in a memory backend beside the bolt file (store.short_lived "memory"), so
// that a login waits for the disk only for its session and token, and the
// SP's token call not at all. Each
// call goes to exactly one backend, so every atomicity promise holds.
//
// Config is the `store:` section of the configuration; cmd/idp turns it
// into a backend (boltstore.OpenConfig, redisstore.OpenConfig or memory.New,
// the first possibly split with a memory backend) and passes that to New.
package store
