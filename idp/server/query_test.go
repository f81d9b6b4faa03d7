package server

import (
	"net/url"
	"testing"
)

// FuzzQueryValue holds queryValue to url.ParseQuery, which echo's
// QueryParam uses: the same first value of "lang" for any query.
func FuzzQueryValue(f *testing.F) {
	for _, s := range []string{
		"", "lang=en", "SAMLRequest=fZJNb%2B&RelayState=x&lang=ko", "lang=en&lang=ko",
		"l%61ng=en", "lang=e%6E", "lang=%zz&lang=en", "lang=en;x=1&lang=ko", "xlang=en", "lang", "lang=a+b", "=&&=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		want, _ := url.ParseQuery(raw)
		if got := queryValue(raw, "lang"); got != want.Get("lang") {
			t.Fatalf("queryValue(%q) = %q, ParseQuery gives %q", raw, got, want.Get("lang"))
		}
	})
}
