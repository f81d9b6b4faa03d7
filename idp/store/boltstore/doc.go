// Package boltstore is a store.Backend in a single bbolt file.
//
// Open takes bbolt's exclusive file lock, so one idp process owns a file.
// When another process holds it, Open gives up after the lock timeout
// (default 2s, never unbounded) with an error wrapping ErrLocked that names
// the file, instead of hanging at start-up.
//
// Each bucket of the Backend is a top-level bbolt bucket, created on first
// write. Each value is an 8-byte big-endian expiry (Unix nanoseconds), one
// flag byte (bit 0: consumed tombstone), then the payload; reads check the
// expiry, and a background sweeper (default every minute, stopped by Close)
// deletes expired records in chunks.
//
// The freelist is not written on each commit (NoFreelistSync, map freelist):
// Open rebuilds it by scanning the file, which costs milliseconds, while
// writing it would cost every commit pages that grow with the file.
//
// Atomicity: every write (Put, Delete, Take, Consume, PutIfAbsent, Incr)
// reads and writes inside one read-write transaction, and bbolt runs one
// writer at a time. Writes go through a group committer (commit.go): a lone
// write commits at once, and writes that arrive while a commit is on the
// disk share the next one, so a morning rush pays one fsync pair per group
// rather than per write, and a single user never waits for a batch timer.
//
// The file is created with mode 0600; Open warns when an existing file is
// readable by others.
package boltstore
