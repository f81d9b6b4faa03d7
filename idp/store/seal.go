package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ncp-sso/idp/idp"
)

// Records of secret-keyed types (sessions, flows, codes) are stored under a
// hash of the secret ID and sealed with a key derived from that same ID.
// Whoever reads the database file without knowing an ID can neither find the
// ID nor read the record, which matters because records name other secrets:
// a Code carries its SessionID and TokenID, and every record carries an
// Identity. The IDs are 256-bit random values (idp.NewID), so one SHA-256
// suffices; a slow hash would add nothing. The two derivations use different
// labels so the lookup key reveals nothing about the sealing key.
const (
	labelLookup = "idp/store/v1/key\x00"
	labelSeal   = "idp/store/v1/seal\x00"
	labelReplay = "idp/store/v1/replay\x00"
)

// ErrCorrupt is wrapped by errors for a record that does not open under its
// ID's key or does not decode: truncated, tampered with, or written by
// something else. It is neither idp.ErrNotFound nor a store outage.
var ErrCorrupt = errors.New("store: record corrupt")

// lookupKey is the backend key of the record whose secret ID is id: the
// SHA-256 of the ID, after the ID's time prefix when it is a timed ID
// (idp.NewTimedID, what sessions, flows and tokens get). So records made together
// have neighbouring keys, and a bolt commit of a morning rush's sessions
// rewrites a few pages at the end of the tree rather than one page per
// session scattered across it (which also made each fdatasync 2-3 times
// longer). IDs of the other length (before timed IDs) keep the plain hash,
// so their records are still found.
func lookupKey(id string) []byte {
	key := make([]byte, 0, idp.TimePrefixBytes+sha256.Size)
	if len(id) == idp.TimedIDLen {
		var err error
		if key, err = base64.RawURLEncoding.AppendDecode(key, []byte(id[:idp.TimePrefixBytes*4/3])); err != nil {
			key = key[:0]
		}
	}
	h := sha256.New()
	h.Write([]byte(labelLookup))
	h.Write([]byte(id))
	return h.Sum(key)
}

// replayKey is the backend key of a ReplayGuard entry. The namespace is
// length-prefixed so that no (namespace, id) pair can collide with another.
func replayKey(namespace, id string) []byte {
	h := sha256.New()
	h.Write([]byte(labelReplay))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(namespace)))
	h.Write(n[:])
	h.Write([]byte(namespace))
	h.Write([]byte(id))
	return h.Sum(nil)
}

// sealer turns plaintext records into nonce||AES-256-GCM ciphertext. The
// bucket and lookup key are authenticated as additional data so a record
// cannot be moved to another bucket and still open.
type sealer struct {
	rand io.Reader
}

func aeadFor(id string) (cipher.AEAD, error) {
	k := sha256.Sum256([]byte(labelSeal + id))
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func additionalData(bucket string, key []byte) []byte {
	ad := make([]byte, 0, len(bucket)+1+len(key))
	ad = append(ad, bucket...)
	ad = append(ad, 0)
	return append(ad, key...)
}

func (s sealer) seal(bucket, id string, key, plaintext []byte) ([]byte, error) {
	aead, err := aeadFor(id)
	if err != nil {
		return nil, fmt.Errorf("store: seal: %w", err)
	}
	// A fresh random nonce per write: one ID may be written more than once
	// (a session refreshed), and GCM must never reuse a nonce under a key.
	out := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := io.ReadFull(s.rand, out); err != nil {
		return nil, fmt.Errorf("store: seal: read nonce: %w", err)
	}
	return aead.Seal(out, out, plaintext, additionalData(bucket, key)), nil
}

func (s sealer) open(bucket, id string, key, sealed []byte) ([]byte, error) {
	aead, err := aeadFor(id)
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("%w: %s record too short", ErrCorrupt, bucket)
	}
	nonce, ct := sealed[:aead.NonceSize()], sealed[aead.NonceSize():]
	pt, err := aead.Open(nil, nonce, ct, additionalData(bucket, key))
	if err != nil {
		return nil, fmt.Errorf("%w: %s record does not open", ErrCorrupt, bucket)
	}
	return pt, nil
}
