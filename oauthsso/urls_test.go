package oauthsso

import (
	"errors"
	"net/url"
	"testing"
)

func TestPathPrefixOnSegmentBoundary(t *testing.T) {
	for _, entry := range []string{"https://acme.ncpworkplace.com/oauth/callback", "https://acme.ncpworkplace.com/oauth/callback/"} {
		a, err := parseAllowedPrefix(entry, false)
		if err != nil {
			t.Fatal(err)
		}
		for path, want := range map[string]bool{
			"/oauth/callback":        true,
			"/oauth/callback/":       true,
			"/oauth/callback/x":      true,
			"/oauth/callback?x=1":    true,
			"/oauth/callbackx":       false,
			"/oauth/callback.evil":   false,
			"/oauth":                 false,
			"/oauth/":                false,
			"/":                      false,
			"":                       false,
			"/OAUTH/callback":        false,
			"/oauth/callback/../x":   false,
			"/oauth/callback/%2e%2e": false,
			"/o%61uth/callback":      false,
		} {
			got := checkRedirectURI("https://acme.ncpworkplace.com"+path, []allowedPrefix{a}, false) == nil
			if got != want {
				t.Errorf("entry %s, path %q: allowed=%v, want %v", entry, path, got, want)
			}
		}
	}
}

// TestLiteralAt: an @ is refused wherever it appears, in the authority as
// userinfo and after it (a path or query that some parsers would read as
// userinfo; fuzzing found "https://ACme.nCpworkplACe.Com/cb/@0" accepted);
// percent-encoded it passes.
func TestLiteralAt(t *testing.T) {
	a, err := parseAllowedPrefix("https://acme.ncpworkplace.com/cb", false)
	if err != nil {
		t.Fatal(err)
	}
	for raw, want := range map[string]error{
		"https://acme.ncpworkplace.com@evil.test/cb":  errURLUserinfo,
		"https://ACme.nCpworkplACe.Com/cb/@0":         errURLAt,
		"https://acme.ncpworkplace.com/cb?next=a@b":   errURLAt,
		"https://acme.ncpworkplace.com/cb?next=a%40b": nil,
		"https://acme.ncpworkplace.com/cb/%40":        nil,
	} {
		if got := checkRedirectURI(raw, []allowedPrefix{a}, false); !errors.Is(got, want) {
			t.Errorf("%s: %v, want %v", raw, got, want)
		}
	}
	if _, err := parseAllowedPrefix("https://acme.ncpworkplace.com/c@b", false); !errors.Is(err, errURLAt) {
		t.Errorf("allowed prefix with @: %v, want %v", err, errURLAt)
	}
}

func TestAppendQuery(t *testing.T) {
	v := url.Values{"code": {"c d"}, "state": {"a&b=c"}}
	for raw, want := range map[string]string{
		"https://h/cb":          "https://h/cb?code=c+d&state=a%26b%3Dc",
		"https://h/cb?x=1":      "https://h/cb?x=1&code=c+d&state=a%26b%3Dc",
		"https://h/cb?x=%2B&":   "https://h/cb?x=%2B&code=c+d&state=a%26b%3Dc",
		"https://h/cb?":         "https://h/cb?code=c+d&state=a%26b%3Dc",
		"https://h/cb?state=s1": "https://h/cb?state=s1&code=c+d&state=a%26b%3Dc",
	} {
		if got := appendQuery(raw, v); got != want {
			t.Errorf("appendQuery(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestParseParams(t *testing.T) {
	for raw, wantErr := range map[string]error{
		"a=1&b=2":                            nil,
		"a=1&&b=":                            nil,
		"a=%zz":                              errMalformed,
		"%zz=1":                              errMalformed,
		"=1":                                 errMalformed,
		"a=1;b=2":                            errMalformed,
		"a=" + string(make([]byte, 0)) + "x": nil,
	} {
		if _, err := parseParams(raw); err != wantErr {
			t.Errorf("parseParams(%q) err %v, want %v", raw, err, wantErr)
		}
	}
	p, _ := parseParams("a=1&a=2&b=%20+")
	if p.duplicate() != "a" || p.get("b") != "  " || p.get("missing") != "" {
		t.Errorf("parsed %v", p)
	}
}
