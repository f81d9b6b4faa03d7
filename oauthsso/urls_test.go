package oauthsso

import (
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
