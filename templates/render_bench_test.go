package templates

import (
	"bytes"
	"strings"
	"testing"
)

// BenchmarkRender measures Set.Render alone for the pages of a login: the
// login page (with and without an error) and the SAML auto-POST page.
func BenchmarkRender(b *testing.B) {
	brand := Brand{CompanyName: "Example Corp", PrimaryColor: "#1f5eff"}
	s, err := Load("", brand)
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name, page string
		data       any
	}{
		{"login", "login", loginData{CSRF: "csrf-token-0123456789abcdef", FlowID: "flow-0123456789abcdef", SPName: "NAVER WORKS"}},
		{"login_error", "login", loginData{CSRF: "csrf-token-0123456789abcdef", FlowID: "flow-0123456789abcdef", Username: "alice", ErrorKey: "login_failed", HelpURL: "https://help.example.test/pw"}},
		{"saml_post", "saml_post", postData{Action: "https://sp.example.test/acs", SAMLResponseInput: samlInput(strings.Repeat("<samlp:Response />", 400)), RelayState: "relay-0123456789", HasRelayState: true, SPName: "NAVER WORKS"}},
	}
	for _, tc := range cases {
		for _, lang := range Languages {
			b.Run(tc.name+"_"+lang, func(b *testing.B) {
				p := Page{Lang: lang, Nonce: "bm9uY2UtMDEyMzQ1Njc4OWFi", RequestID: "req-0123456789abcdef",
					Brand:    brand,
					LangURLs: map[string]string{"ko": "/login?flow=flow-0123456789abcdef&lang=ko", "en": "/login?flow=flow-0123456789abcdef&lang=en"},
					Data:     tc.data}
				var out bytes.Buffer
				b.ReportAllocs()
				for b.Loop() {
					out.Reset()
					if err := s.Render(&out, tc.page, p); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
