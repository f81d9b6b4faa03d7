package idp

import (
	"crypto/rand"
	"encoding/base64"
	"io"
	"time"
)

// IDBytes is the number of random bytes in every handle, code, token and
// session ID: 256 bits, comfortably above the 128 bits RFC 6749 §10.10 asks.
const IDBytes = 32

// NewID returns IDBytes random bytes from r (crypto/rand.Reader when nil),
// URL-safe base64 without padding. It panics only if the randomness source
// fails, which on Linux means the kernel cannot provide entropy.
func NewID(r io.Reader) string {
	var b [IDBytes]byte
	fillRandom(r, b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// fillRandom fills b from r (crypto/rand.Reader when nil); see NewID.
func fillRandom(r io.Reader, b []byte) {
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, b); err != nil {
		panic("idp: randomness source failed: " + err.Error())
	}
}

// TimedIDLen is the length of a NewTimedID: its time prefix and IDBytes
// random bytes, URL-safe base64 without padding.
const TimedIDLen = ((TimePrefixBytes+IDBytes)*8 + 5) / 6

// TimePrefixBytes is the size of a timed ID's time prefix: its creation
// time in Unix milliseconds, big-endian (enough until the year 10889).
const TimePrefixBytes = 6

// NewTimedID returns an ID for a record that lives for minutes or hours
// (a session, a login flow, an access token): its creation time t in milliseconds, then IDBytes
// random bytes from r, URL-safe base64 without padding (TimedIDLen
// characters). The store keys such records by that time first (see
// store's lookupKey), so records written together sit together on disk.
// The prefix tells only when the ID was made; guessing an ID still means
// guessing its 256 random bits.
func NewTimedID(r io.Reader, t time.Time) string {
	var b [TimePrefixBytes + IDBytes]byte
	ms := uint64(max(t.UnixMilli(), 0))
	for i := TimePrefixBytes - 1; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	fillRandom(r, b[TimePrefixBytes:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
