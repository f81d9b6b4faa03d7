package ldapdemo

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"strings"
)

const attrUserPassword = "userpassword"

// passwordScheme is an RFC 2307 style "{SCHEME}base64" password hash.
type passwordScheme struct {
	newHash func() hash.Hash
	salted  bool // the base64 data is digest || salt
}

var passwordSchemes = map[string]passwordScheme{
	"SHA":     {newHash: sha1.New},
	"SSHA":    {newHash: sha1.New, salted: true},
	"SHA256":  {newHash: sha256.New},
	"SSHA256": {newHash: sha256.New, salted: true},
	"SHA512":  {newHash: sha512.New},
	"SSHA512": {newHash: sha512.New, salted: true},
}

// splitScheme returns the scheme of a stored password, or "" for plaintext.
// A value like "{x" or "{}" is plaintext.
func splitScheme(stored string) (scheme, data string) {
	if !strings.HasPrefix(stored, "{") {
		return "", stored
	}
	end := strings.IndexByte(stored, '}')
	if end < 2 {
		return "", stored
	}
	return strings.ToUpper(stored[1:end]), stored[end+1:]
}

// decodeHashed returns the digest and salt of a hashed password.
func decodeHashed(s passwordScheme, data string) (digest, salt []byte, err error) {
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, nil, fmt.Errorf("password hash is not base64: %w", err)
	}
	size := s.newHash().Size()
	switch {
	case !s.salted && len(raw) != size:
		return nil, nil, fmt.Errorf("password hash has %d bytes, want %d", len(raw), size)
	case s.salted && len(raw) <= size:
		return nil, nil, fmt.Errorf("salted password hash has %d bytes, want more than %d", len(raw), size)
	}
	return raw[:size], raw[size:], nil
}

// checkPasswordValue reports a userPassword value the server could not check.
func checkPasswordValue(stored string) error {
	scheme, data := splitScheme(stored)
	if scheme == "" {
		return nil
	}
	s, ok := passwordSchemes[scheme]
	if !ok {
		return fmt.Errorf("userPassword scheme {%s} is not supported; use plaintext or {SSHA}", scheme)
	}
	_, _, err := decodeHashed(s, data)
	return err
}

// passwordMatches reports whether the password matches one stored value.
// Every value is checked so the time taken does not depend on which one
// matched.
func passwordMatches(stored []string, password string) bool {
	matched := 0
	for _, v := range stored {
		matched |= matchOne(v, password)
	}
	return matched == 1
}

// matchOne returns 1 if the password matches the stored value, 0 otherwise.
func matchOne(stored, password string) int {
	scheme, data := splitScheme(stored)
	if scheme == "" {
		return subtle.ConstantTimeCompare([]byte(data), []byte(password))
	}
	s, ok := passwordSchemes[scheme]
	if !ok {
		return 0
	}
	digest, salt, err := decodeHashed(s, data)
	if err != nil {
		return 0
	}
	h := s.newHash()
	h.Write([]byte(password))
	h.Write(salt)
	return subtle.ConstantTimeCompare(h.Sum(nil), digest)
}

// firstPlaintext returns the first plaintext value, for the demo description.
func firstPlaintext(stored []string) (string, bool) {
	for _, v := range stored {
		if scheme, data := splitScheme(v); scheme == "" {
			return data, true
		}
	}
	return "", false
}
