package oauthsso

import (
	"errors"
	"net/url"
	"strings"
)

// Request size limits. Every parameter the SPs send is well under 4 KiB (a
// NAVER WORKS redirect_uri with its embedded state is the longest); the caps
// make a 1 MB parameter cost one length comparison.
const (
	// MaxParamBytes caps each decoded parameter value.
	MaxParamBytes = 4 << 10
	// MaxQueryBytes caps the raw query string of browser endpoints.
	MaxQueryBytes = 16 << 10
	// MaxBodyBytes caps the form body of the token and userinfo endpoints.
	MaxBodyBytes = 16 << 10
	// maxParams caps the number of parameters in one request.
	maxParams = 32
)

var (
	errTooLarge  = errors.New("oauthsso: request parameters too large")
	errMalformed = errors.New("oauthsso: malformed parameters")
)

// params is a strictly parsed query or form. Every key keeps all its values
// so that callers can refuse duplicates.
type params map[string][]string

// parseParams parses an application/x-www-form-urlencoded string. Unlike
// url.ParseQuery it stops at the first oversized value, caps the number of
// parameters, and refuses invalid escapes and ";" separators instead of
// skipping them (a skipped pair is one a proxy might have read differently).
func parseParams(raw string) (params, error) {
	p := params{}
	if raw == "" {
		return p, nil
	}
	n := 0
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		if n++; n > maxParams {
			return nil, errTooLarge
		}
		if strings.Contains(pair, ";") {
			return nil, errMalformed
		}
		k, v, _ := strings.Cut(pair, "=")
		if len(k) > 3*64 || len(v) > 3*MaxParamBytes {
			return nil, errTooLarge
		}
		key, err := url.QueryUnescape(k)
		if err != nil || key == "" {
			return nil, errMalformed
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, errMalformed
		}
		if len(val) > MaxParamBytes {
			return nil, errTooLarge
		}
		p[key] = append(p[key], val)
	}
	return p, nil
}

// get returns the single value of key, or "" when it is absent.
func (p params) get(key string) string {
	if vs := p[key]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// duplicate returns the first key that appears more than once, or "".
func (p params) duplicate() string {
	for k, vs := range p {
		if len(vs) > 1 {
			return k
		}
	}
	return ""
}
