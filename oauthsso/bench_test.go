package oauthsso

import (
	"encoding/json"
	"net/http"
	"testing"
)

// BenchmarkTokenUserinfo measures one token call plus one userinfo call
// through the echo handlers and the real memory store (codes are issued
// through the authorize endpoint before the timer starts, since each is
// single-use).
func BenchmarkTokenUserinfo(b *testing.B) {
	e := newEnv(b)
	e.login("alice")
	// Codes come from the authorize endpoint, as an SP's do: each is
	// stored with the token it will be redeemed for.
	codes := make([]string, b.N)
	for i := range codes {
		codes[i] = e.code(wpID, wpCallback, "st")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		rec := e.post(PathToken, tokenForm(wpID, wpSecret, codes[i]))
		if rec.Code != http.StatusOK {
			b.Fatalf("token: %d %s", rec.Code, rec.Body)
		}
		var tr struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil {
			b.Fatal(err)
		}
		if rec := e.post(PathUserinfo, userinfoForm(wpID, wpSecret, tr.AccessToken)); rec.Code != http.StatusOK {
			b.Fatalf("userinfo: %d %s", rec.Code, rec.Body)
		}
	}
}
