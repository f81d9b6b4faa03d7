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
// Atomicity: Take, Consume, PutIfAbsent and Incr each read and write in one
// Update transaction, and bbolt runs one writer at a time. Put and Delete go
// through db.Batch, which merges concurrent writers into one fsync; that is
// safe for them because they are idempotent (Batch may run a function twice).
//
// The file is created with mode 0600; Open warns when an existing file is
// readable by others.
package boltstore
