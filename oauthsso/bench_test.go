package oauthsso

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/ncp-sso/idp/idp"
)

// BenchmarkTokenUserinfo measures one token call plus one userinfo call
// through the echo handlers and the real memory store (codes are issued
// before the timer starts, since each is single-use).
func BenchmarkTokenUserinfo(b *testing.B) {
	e := newEnv(b)
	sess := e.login("alice")
	ctx := context.Background()
	codes := make([]string, b.N)
	for i := range codes {
		c := idp.Code{
			ID: idp.NewID(nil), ClientID: wpID, RedirectURI: wpCallback, SessionID: sess.ID,
			Identity: sess.Identity, AuthTime: sess.AuthTime, TokenID: idp.NewID(nil),
			ExpiresAt: e.clk.Now().Add(DefaultCodeLifetime),
		}
		if err := e.st.PutCode(ctx, c); err != nil {
			b.Fatal(err)
		}
		codes[i] = c.ID
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
