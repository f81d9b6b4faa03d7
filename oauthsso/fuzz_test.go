package oauthsso

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

// FuzzRedirectURI: whatever checkRedirectURI accepts points, for every
// parser that matters (Go's url package, a browser's reading of the
// authority), at the allowed host and under the allowed path.
func FuzzRedirectURI(f *testing.F) {
	for _, s := range []string{
		"https://acme.ncpworkplace.com/cb", "https://acme.ncpworkplace.com/cb/x?a=1",
		"https://acme.ncpworkplace.com@evil.test/cb", "https://acme.ncpworkplace.com.evil.test/cb",
		"https://acme.ncpworkplace.com/cb/../x", "https://acme.ncpworkplace.com/cb/%2e%2e/x",
		`https://acme.ncpworkplace.com\@evil.test/cb`, "https://acme.ncpworkplace.com:443/cb",
		"https://ACME.ncpworkplace.com/cb", "//evil.test/cb", "https://acme.ncpworkplace.com/cbx",
		"https://acme.ncpworkplace.com/cb/..;/x", "http://127.0.0.1:8080/cb",
		"https://ACme.nCpworkplACe.Com/cb/@0", "https://acme.ncpworkplace.com/cb?a=b@c",
	} {
		f.Add(s)
	}
	allowed, err := parseAllowedPrefix("https://acme.ncpworkplace.com/cb", true)
	if err != nil {
		f.Fatal(err)
	}
	loop, err := parseAllowedPrefix("http://127.0.0.1:*/cb", true)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if checkRedirectURI(raw, []allowedPrefix{allowed, loop}, true) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("accepted %q that url.Parse refuses: %v", raw, err)
		}
		host := strings.ToLower(u.Hostname())
		if host != "acme.ncpworkplace.com" && host != "127.0.0.1" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
			t.Fatalf("accepted %q: host %q user %v", raw, host, u.User)
		}
		if host == "acme.ncpworkplace.com" && (u.Scheme != "https" || u.Port() != "" && u.Port() != "443") {
			t.Fatalf("accepted %q with scheme %q port %q", raw, u.Scheme, u.Port())
		}
		if strings.ContainsAny(raw, "\\\t\r\n @#") {
			t.Fatalf("accepted %q with an ambiguous character", raw)
		}
		p := u.Path
		if p != "/cb" && !strings.HasPrefix(p, "/cb/") {
			t.Fatalf("accepted %q outside /cb: path %q", raw, p)
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == ".." || seg == "." || strings.HasPrefix(seg, "..;") {
				t.Fatalf("accepted %q with a dot segment", raw)
			}
		}
	})
}

// FuzzTokenRequest: the strict form parser and the Basic header parser
// (everything the token and userinfo endpoints read before the store) never
// panic, respect their caps, and agree with url.ParseQuery on what they
// accept.
func FuzzTokenRequest(f *testing.F) {
	f.Add("grant_type=authorization_code&code=abc&client_id=x&client_secret=y", "Basic eDp5")
	f.Add("a=1&a=2;b=3", "Basic "+base64.StdEncoding.EncodeToString([]byte("%zz:%41")))
	f.Add("%=&==&&"+strings.Repeat("k=v&", 40), "Bearer x")
	f.Fuzz(func(t *testing.T, body, auth string) {
		p, err := parseParams(body)
		if err == nil {
			n := 0
			ref, rerr := url.ParseQuery(body)
			if rerr != nil {
				t.Fatalf("accepted %q that url.ParseQuery refuses: %v", body, rerr)
			}
			for k, vs := range p {
				n += len(vs)
				if len(k) == 0 || len(ref[k]) != len(vs) {
					t.Fatalf("%q: key %q parsed as %v, url.ParseQuery %v", body, k, vs, ref[k])
				}
				for i, v := range vs {
					if len(v) > MaxParamBytes || v != ref[k][i] {
						t.Fatalf("%q: value %q vs %q", body, v, ref[k][i])
					}
				}
			}
			if n > maxParams {
				t.Fatalf("%d parameters accepted", n)
			}
		}
		if id, secret, ok := parseBasic(auth); ok {
			// What was accepted re-encodes to an equivalent header.
			again := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
			id2, secret2, ok2 := parseBasic(again)
			if !ok2 || id2 != id || secret2 != secret {
				t.Fatalf("parseBasic(%q) = %q, %q does not round-trip", auth, id, secret)
			}
		}
	})
}
