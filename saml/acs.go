package saml

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// maxURLLength bounds ACS and redirect URLs.
const maxURLLength = 2048

// errACSNotAllowed is returned for an ACS URL outside the SP's allowlist.
var errACSNotAllowed = errors.New("saml: ACS URL not allowed")

// allowEntry is one acs_allowed value: a URL prefix ending in "/" or an
// exact URL.
type allowEntry struct {
	raw    string
	prefix bool
}

// parseAllowEntry checks a configured entry. A bare origin becomes the
// prefix origin + "/" so that "https://a.example" can never match
// "https://a.example.evil.test".
func parseAllowEntry(s string) (allowEntry, error) {
	if !strings.HasPrefix(s, "https://") {
		return allowEntry{}, fmt.Errorf("%q must start with https:// (the SP accepts only HTTPS)", s)
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return allowEntry{}, fmt.Errorf("%q must be https://host[/path/] without user, query or fragment", s)
	}
	if u.Host != strings.ToLower(u.Host) {
		return allowEntry{}, fmt.Errorf("%q: write the host in lower case", s)
	}
	if u.Path == "" {
		s += "/"
	}
	if err := checkURLSyntax(s); err != nil {
		return allowEntry{}, fmt.Errorf("%q: %v", s, err)
	}
	return allowEntry{raw: s, prefix: strings.HasSuffix(s, "/")}, nil
}

// acsMatcher decides whether an ACS URL is allowed for a profile SP.
type acsMatcher struct {
	entries []allowEntry
}

func newACSMatcher(allowed []string) (acsMatcher, error) {
	var m acsMatcher
	for _, a := range allowed {
		e, err := parseAllowEntry(a)
		if err != nil {
			return acsMatcher{}, err
		}
		m.entries = append(m.entries, e)
	}
	return m, nil
}

// check returns nil when acs is allowed. Matching is byte-for-byte on the
// raw URL after a strict syntax check, so every spelling trick (case, port,
// userinfo, dot segments, encoded slashes, backslashes, look-alike hosts)
// either fails the syntax check or fails the prefix comparison.
func (m acsMatcher) check(acs string) error {
	if err := checkURLSyntax(acs); err != nil {
		return fmt.Errorf("%w: %v", errACSNotAllowed, err)
	}
	for _, e := range m.entries {
		if e.prefix && strings.HasPrefix(acs, e.raw) || !e.prefix && acs == e.raw {
			return nil
		}
	}
	return fmt.Errorf("%w: not under any acs_allowed entry", errACSNotAllowed)
}

// checkURLSyntax accepts only plain https URLs: printable ASCII, no
// userinfo, no fragment, no backslash, quote, angle bracket or backtick, no percent-encoded dot, slash or
// backslash, no empty, "." or ".." path segments, and a host:port exactly as
// Go's parser reads it.
func checkURLSyntax(s string) error {
	if len(s) > maxURLLength {
		return errors.New("URL too long")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return errors.New("URL has a space, control or non-ASCII character")
		}
	}
	// Quotes and angle brackets are escaped wherever we write the URL, but
	// an SP, a proxy or a log viewer may not be as careful: refuse them, as
	// for OAuth redirect URIs.
	if strings.ContainsAny(s, "\\#@\"<>`") {
		return errors.New(`URL has a backslash, fragment, "@", quote or angle bracket`)
	}
	lower := strings.ToLower(s)
	for _, bad := range []string{"%2e", "%2f", "%5c", "%00"} {
		if strings.Contains(lower, bad) {
			return fmt.Errorf("URL has an encoded %q", bad)
		}
	}
	if !strings.HasPrefix(s, "https://") {
		return errors.New("URL is not https")
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("URL does not parse")
	}
	if u.Scheme != "https" || u.Host == "" || u.User != nil || u.Opaque != "" {
		return errors.New("URL is not a plain https URL")
	}
	// The authority must be exactly what follows "https://" up to the path,
	// so the host the browser posts to is the host we compared.
	rest := s[len("https://"):]
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	if rest != u.Host {
		return errors.New("URL authority is ambiguous")
	}
	if u.Path != "" {
		segs := strings.Split(u.Path[1:], "/")
		for i, seg := range segs {
			if seg == "." || seg == ".." || seg == "" && i != len(segs)-1 {
				return errors.New("URL path has an empty, . or .. segment")
			}
		}
	}
	return nil
}

// originOf returns scheme://host[:port] of a checked URL, for the CSP
// form-action directive.
func originOf(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// hostOf returns the lower-case host name (no port) of a URL, or "".
func hostOf(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// portOf returns the explicit port of a URL, or "".
func portOf(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Port()
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
