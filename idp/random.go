package idp

import (
	"crypto/rand"
	"encoding/base64"
	"io"
)

// IDBytes is the number of random bytes in every handle, code, token and
// session ID: 256 bits, comfortably above the 128 bits RFC 6749 §10.10 asks.
const IDBytes = 32

// NewID returns IDBytes random bytes from r (crypto/rand.Reader when nil),
// URL-safe base64 without padding. It panics only if the randomness source
// fails, which on Linux means the kernel cannot provide entropy.
func NewID(r io.Reader) string {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, IDBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		panic("idp: randomness source failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
