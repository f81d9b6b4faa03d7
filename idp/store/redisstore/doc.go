// Package redisstore is a store.Backend in Redis, for running several idp
// instances behind a load balancer: every instance that points at the same
// Redis (or Sentinel group) and key prefix sees the same sessions, flows,
// codes, tokens, replay entries and throttling counters, so any instance
// can answer any step of a login.
//
// Keys are "<prefix><bucket>/<hex key>"; the typed store above hashes every
// secret ID, so no session ID, code or token appears in Redis, and records
// are sealed (see idp/store). Each value is a kind byte ('v' live, 't'
// tombstone), the expiry as 19 decimal digits of Unix nanoseconds, then the
// payload.
//
// Expiry: every key carries a Redis TTL (PX) equal to the time left by this
// instance's clock, rounded up to the millisecond, so Redis removes expired
// records itself and Sweep does nothing. Reads also compare the stored expiry
// with the instance's clock, so a record is never seen at or after its
// expiry even before Redis drops it (the conformance suite checks this with
// a fake clock).
//
// Atomicity: Put is SET PX, Get is GET, Delete is DEL. Take, Consume,
// PutIfAbsent and Incr are Lua scripts (EVALSHA, falling back to EVAL after
// a restart empties the script cache); Redis runs a script with no other
// command in between, so of concurrent calls from any number of processes
// exactly one takes a record, consumes it first, or inserts it, and no
// increment is lost. Take is a script rather than GETDEL because a tombstone
// must survive a Take; PutIfAbsent rather than SET NX because an expired
// record or a tombstone counts as absent.
//
// Failures: every Redis error (connection refused, timeout, READONLY or
// LOADING during a failover or restart) wraps idp.ErrStoreUnavailable, which
// the server shows as the 503 page; Check (for /readyz) is PING. The client
// never retries a command (MaxRetries -1): a retried Consume whose first
// reply was lost would report a genuine code as already used. It reconnects
// by itself, and with Sentinel asks the sentinels for the new master after a
// failover, so an instance recovers without a restart.
//
// Durability is Redis's: with asynchronous replication a failover may lose
// the writes of the last moments before the master died (users then sign in
// again), and a restarted Redis keeps data only with AOF or RDB persistence.
package redisstore
