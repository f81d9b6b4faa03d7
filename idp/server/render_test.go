package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/memory"
)

// BenchmarkServerRender measures Server.Render as a handler calls it:
// language choice, language links, layout data, rendering and writing the
// response.
func BenchmarkServerRender(b *testing.B) {
	st := store.New(memory.New())
	b.Cleanup(func() { st.Close() })
	s, err := New(Options{
		Config:        Config{PublicURL: "https://idp.example.test"},
		Branding:      BrandingConfig{CompanyName: "Example Corp"},
		Store:         st,
		Authenticator: &fakeAuth{},
	})
	if err != nil {
		b.Fatal(err)
	}
	samlResponse := strings.Repeat("PHNhbWxwOlJlc3BvbnNlIC8+", 300)
	cases := []struct {
		name, target, page string
		data               any
	}{
		{"login", "/login?flow=flow-0123456789abcdef", "login", loginData{CSRF: "csrf-token-0123456789abcdef", FlowID: "flow-0123456789abcdef", SPName: "NAVER WORKS"}},
		{"login_error", "/login", "login", loginData{CSRF: "csrf-token-0123456789abcdef", FlowID: "flow-0123456789abcdef", Username: "alice", ErrorKey: "login_failed", HelpURL: "https://help.example.test/pw"}},
		{"saml_post", "/saml/sso?SAMLRequest=x", "saml_post", struct {
			Action, SAMLResponse, RelayState string
			HasRelayState                    bool
			SPName                           string
		}{"https://sp.example.test/acs", samlResponse, "relay-0123456789", true, "NAVER WORKS"}},
	}
	for _, tc := range cases {
		for _, lang := range []string{"ko", "en"} {
			b.Run(tc.name+"_"+lang, func(b *testing.B) {
				method, target := http.MethodGet, tc.target
				if tc.name == "login_error" {
					method = http.MethodPost
				}
				req := httptest.NewRequest(method, target, nil)
				req.Header.Set("Accept-Language", lang)
				b.ReportAllocs()
				for b.Loop() {
					rec := httptest.NewRecorder()
					c := s.echo.NewContext(req, rec)
					c.Set(ctxNonce, "bm9uY2UtMDEyMzQ1Njc4OWFi")
					c.Set(ctxRequestID, "req-0123456789abcdef")
					if err := s.Render(c, http.StatusOK, tc.page, tc.data); err != nil || rec.Code != http.StatusOK {
						b.Fatalf("render: %v %d", err, rec.Code)
					}
				}
			})
		}
	}
}
