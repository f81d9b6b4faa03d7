package oauthsso

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// URL errors. They go to the log and to config problems, never to a browser.
var (
	errURLChars     = errors.New("oauthsso: url contains a space, control, non-ASCII or unsafe character")
	errURLFragment  = errors.New("oauthsso: url has a fragment")
	errURLScheme    = errors.New("oauthsso: url must be https (http only for 127.0.0.1/localhost with insecure_allow_http_loopback)")
	errURLUserinfo  = errors.New("oauthsso: url has userinfo (user@host)")
	errURLAt        = errors.New("oauthsso: url has a literal @ after the host (percent-encode it as %40: some parsers take it for userinfo)")
	errURLHost      = errors.New("oauthsso: url host is missing or not a plain host name")
	errURLPort      = errors.New("oauthsso: url port is invalid")
	errURLPath      = errors.New("oauthsso: url path has dot segments, empty segments or encoded slashes")
	errURLQuery     = errors.New("oauthsso: url prefix must not have a query")
	errURLNotListed = errors.New("oauthsso: url is not under any allowed prefix")
)

// strictURL is an absolute URL that every browser and proxy reads the same
// way we do. Host is lower-case; Port is always explicit; RawPath is the
// path exactly as written ("" when absent).
type strictURL struct {
	Scheme  string
	Host    string
	Port    string
	RawPath string
}

// parseStrictURL parses raw as an absolute http(s) URL and refuses every
// form that lets two parsers disagree about where it points. http is allowed
// only for loopback hosts and only when insecureLoopback is set.
func parseStrictURL(raw string, insecureLoopback bool) (strictURL, error) {
	var s strictURL
	for i := 0; i < len(raw); i++ {
		switch b := raw[i]; {
		case b <= 0x20 || b >= 0x7f:
			// controls, space, DEL and non-ASCII (IDN look-alikes, and the
			// tab/newline that browsers silently strip).
			return s, errURLChars
		case b == '\\' || b == '<' || b == '>' || b == '"' || b == '`':
			return s, errURLChars
		case b == '#':
			return s, errURLFragment
		}
	}
	// The scheme must be followed by "//" and an authority: refuse
	// "https:host", "https:/host" and scheme-relative forms outright.
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return s, errURLScheme
	}
	s.Scheme = strings.ToLower(scheme)
	authority := rest
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, rest = rest[:i], rest[i:]
	} else {
		rest = ""
	}
	if strings.Contains(authority, "@") {
		return s, errURLUserinfo
	}
	if strings.Contains(rest, "@") {
		return s, errURLAt
	}
	s.RawPath, _, _ = strings.Cut(rest, "?")

	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil {
		return s, fmt.Errorf("%w: %v", errURLHost, err)
	}
	s.Host = strings.ToLower(u.Hostname())
	// Only plain DNS names and dotted IPv4: no IPv6 literals, no
	// percent-encoding, no trailing dot, nothing that needs IDNA.
	if s.Host == "" || !hostnameRE.MatchString(s.Host) || u.Host != authority {
		return s, errURLHost
	}
	loopback := s.Host == "localhost" || s.Host == "127.0.0.1"
	switch {
	case s.Scheme == "https":
	case s.Scheme == "http" && loopback && insecureLoopback:
	default:
		return s, errURLScheme
	}
	s.Port = u.Port()
	if strings.HasSuffix(authority, ":") {
		return s, errURLPort
	}
	if s.Port == "" {
		s.Port = map[string]string{"https": "443", "http": "80"}[s.Scheme]
	} else if n, err := strconv.Atoi(s.Port); err != nil || n < 1 || n > 65535 || s.Port[0] == '0' {
		return s, errURLPort
	}
	if err := checkPath(s.RawPath); err != nil {
		return s, err
	}
	return s, nil
}

// checkPath refuses paths a server behind the SP could resolve to somewhere
// other than where they appear to point: dot segments (raw, percent-encoded,
// or Tomcat-style "..;"), empty segments, encoded slashes, backslashes, NUL
// and double encoding.
func checkPath(p string) error {
	if p == "" {
		return nil
	}
	if p[0] != '/' {
		return errURLPath
	}
	lower := strings.ToLower(p)
	for _, bad := range []string{"%2f", "%5c", "%00", "%25", "//"} {
		if strings.Contains(lower, bad) {
			return errURLPath
		}
	}
	for _, seg := range strings.Split(p[1:], "/") {
		dec, err := url.PathUnescape(seg)
		if err != nil {
			return errURLPath
		}
		dec, _, _ = strings.Cut(dec, ";")
		if dec == "." || dec == ".." {
			return errURLPath
		}
	}
	return nil
}

// allowedPrefix is one parsed redirect_uris_allowed entry.
type allowedPrefix struct {
	scheme, host string
	// port is explicit; "*" (loopback http only) matches any port.
	port string
	// path has no trailing slash except for the root "/".
	path string
}

// parseAllowedPrefix parses an allowlist entry with the same strictness as
// a redirect_uri, plus: no query. "http://127.0.0.1:*/" (insecure loopback
// only) allows any port.
func parseAllowedPrefix(raw string, insecureLoopback bool) (allowedPrefix, error) {
	anyPort := false
	if insecureLoopback {
		for _, h := range []string{"http://127.0.0.1:*", "http://localhost:*"} {
			if rest, ok := strings.CutPrefix(raw, h); ok && (rest == "" || rest[0] == '/') {
				raw = strings.TrimSuffix(h, "*") + "1" + rest
				anyPort = true
			}
		}
	}
	if strings.Contains(raw, "?") {
		return allowedPrefix{}, errURLQuery
	}
	s, err := parseStrictURL(raw, insecureLoopback)
	if err != nil {
		return allowedPrefix{}, err
	}
	a := allowedPrefix{scheme: s.Scheme, host: s.Host, port: s.Port, path: s.RawPath}
	if anyPort {
		a.port = "*"
	}
	if a.path == "" {
		a.path = "/"
	}
	if len(a.path) > 1 {
		a.path = strings.TrimSuffix(a.path, "/")
	}
	return a, nil
}

// matches reports whether s lies under the prefix: same scheme, host and
// port, and a path equal to the prefix path or below it on a "/" boundary
// ("/cb" allows "/cb", "/cb/" and "/cb/x", never "/cbx").
func (a allowedPrefix) matches(s strictURL) bool {
	if s.Scheme != a.scheme || s.Host != a.host || (a.port != "*" && s.Port != a.port) {
		return false
	}
	p := s.RawPath
	if p == "" {
		p = "/"
	}
	if a.path == "/" {
		return true
	}
	return p == a.path || strings.HasPrefix(p, a.path+"/")
}

// checkRedirectURI reports whether raw is an acceptable redirect_uri for a
// client with the given allowlist.
func checkRedirectURI(raw string, allowed []allowedPrefix, insecureLoopback bool) error {
	s, err := parseStrictURL(raw, insecureLoopback)
	if err != nil {
		return err
	}
	for _, a := range allowed {
		if a.matches(s) {
			return nil
		}
	}
	return errURLNotListed
}

// appendQuery adds v to the query of raw without touching the existing query
// bytes (an SP's state may live inside it). raw has no fragment.
func appendQuery(raw string, v url.Values) string {
	sep := "?"
	if strings.Contains(raw, "?") {
		sep = "&"
		if strings.HasSuffix(raw, "?") || strings.HasSuffix(raw, "&") {
			sep = ""
		}
	}
	return raw + sep + v.Encode()
}
