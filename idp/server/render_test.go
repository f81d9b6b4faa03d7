package server

import (
	"html/template"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/memory"
	"github.com/ncp-sso/idp/templates"
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
	samlResponse, _, _ := templates.HiddenBase64Input("SAMLResponse", []byte(strings.Repeat("<samlp:Response />", 400)))
	cases := []struct {
		name, target, page string
		data               any
	}{
		{"login", "/login?flow=flow-0123456789abcdef", "login", loginData{CSRF: "csrf-token-0123456789abcdef", FlowID: "flow-0123456789abcdef", SPName: "NAVER WORKS"}},
		{"login_error", "/login", "login", loginData{CSRF: "csrf-token-0123456789abcdef", FlowID: "flow-0123456789abcdef", Username: "alice", ErrorKey: "login_failed", HelpURL: "https://help.example.test/pw"}},
		{"saml_post", "/saml/sso?SAMLRequest=x", "saml_post", struct {
			Action            string
			SAMLResponseInput template.HTML
			RelayState        string
			HasRelayState     bool
			SPName            string
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

func TestLangURLs(t *testing.T) {
	for _, tc := range []struct {
		name, method, target, form string
		ko, en                     string
	}{
		{"login page of a flow", http.MethodGet, "/login?flow=f1", "", "/login?flow=f1&lang=ko", "/login?flow=f1&lang=en"},
		{"query kept, sorted, lang replaced", http.MethodGet, "/x?z=1&lang=en&lang=ko&a=b%26c", "", "/x?a=b%26c&lang=ko&z=1", "/x?a=b%26c&lang=en&z=1"},
		{"no query", http.MethodGet, "/login", "", "/login?lang=ko", "/login?lang=en"},
		{"posted form keeps only the flow", http.MethodPost, "/login?x=1", "flow=f2&username=alice&password=secret", "/login?flow=f2&lang=ko", "/login?flow=f2&lang=en"},
		{"posted form without flow", http.MethodPost, "/login", "username=alice", "/login?lang=ko", "/login?lang=en"},
		{"protocol-relative path", http.MethodGet, "//evil.example/?a=1", "", "/login?a=1&lang=ko", "/login?a=1&lang=en"},
		{"backslash path, escaped", http.MethodGet, `/\evil.example/`, "", "/%5Cevil.example/?lang=ko", "/%5Cevil.example/?lang=en"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "/", strings.NewReader(tc.form))
			req.URL.Path, req.URL.RawQuery, _ = strings.Cut(tc.target, "?")
			req.URL.RawPath = ""
			if tc.form != "" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			got := langURLs(req)
			if len(got) != 2 || got["ko"] != tc.ko || got["en"] != tc.en {
				t.Errorf("langURLs = %q, want ko %q, en %q", got, tc.ko, tc.en)
			}
		})
	}
}
