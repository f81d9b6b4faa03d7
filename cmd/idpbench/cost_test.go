package main

import (
	"bytes"
	"crypto/rand"
	"html/template"
	"net/url"
	"testing"
	"time"

	"github.com/ncp-sso/idp/templates"
)

// Benchmarks of the generator's own work per login (its CPU competes with
// the IdP's on a 2-core machine): go test -bench . ./cmd/idpbench

// loginData mirrors idp/server's login page data; templates see only the
// names.
type loginData struct {
	FlowID, SPName, Username, CSRF, ErrorKey, HelpURL string
	WaitMinutes                                       int
}

func (d loginData) FlowURL() string { return "/login?flow=" + url.QueryEscape(d.FlowID) }

// realPages renders the IdP's own login and SAML auto-POST pages (the
// embedded templates, as the server renders them), with a Response of a
// realistic size.
func realPages(tb testing.TB) (login, post []byte) {
	tb.Helper()
	brand := templates.Brand{CompanyName: "Acme"}
	set, err := templates.Load("", brand)
	if err != nil {
		tb.Fatal(err)
	}
	type postData struct {
		Action            string
		SAMLResponseInput template.HTML
		RelayState        string
		HasRelayState     bool
		SPName            string
	}
	page := templates.Page{Lang: "ko", Nonce: "bm9uY2UtMDEyMzQ1Njc4OWFi", Brand: brand}
	var lb, pb bytes.Buffer
	page.Data = loginData{FlowID: "f1b2c3d4e5f60718293a4b5c6d7e8f90", SPName: "NCP WORKPLACE", CSRF: "Y3NyZi0wMTIzNDU2Nzg5YWJjZGVm"}
	if err := set.Render(&lb, "login", page); err != nil {
		tb.Fatal(err)
	}
	xml := make([]byte, 7000)
	_, _ = rand.Read(xml)
	field, _, _ := templates.HiddenBase64Input("SAMLResponse", xml)
	page.Data = postData{Action: spACS, SAMLResponseInput: field, RelayState: "r1", HasRelayState: true}
	if err := set.Render(&pb, "saml_post", page); err != nil {
		tb.Fatal(err)
	}
	return lb.Bytes(), pb.Bytes()
}

func TestRealPages(t *testing.T) {
	login, post := realPages(t)
	base, _ := url.Parse("http://127.0.0.1:1234/login?flow=f1b2c3d4e5f60718293a4b5c6d7e8f90")
	f, err := loginForm(page{url: base, status: 200, body: login}, "u000007", "pw")
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{"csrf": {"Y3NyZi0wMTIzNDU2Nzg5YWJjZGVm"}, "flow": {"f1b2c3d4e5f60718293a4b5c6d7e8f90"},
		"username": {"u000007"}, "password": {"pw"}}
	if f.method != "POST" || f.action.String() != "http://127.0.0.1:1234/login" || f.values.Encode() != want.Encode() {
		t.Errorf("login form %s %s %v, want POST /login %v", f.method, f.action, f.values, want)
	}
	fs := forms(post, base)
	if len(fs) != 1 || fs[0].action.String() != spACS || fs[0].values.Get("RelayState") != "r1" || len(fs[0].values.Get("SAMLResponse")) < 9000 {
		t.Errorf("auto-POST forms = %d", len(fs))
	}
}

func BenchmarkLoginForm(b *testing.B) {
	login, _ := realPages(b)
	base, _ := url.Parse("http://127.0.0.1:1234/login?flow=f1")
	b.SetBytes(int64(len(login)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := loginForm(page{url: base, body: login}, "u000007", "pw"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAutoPostForm(b *testing.B) {
	_, post := realPages(b)
	base, _ := url.Parse("http://127.0.0.1:1234/login")
	b.SetBytes(int64(len(post)))
	b.ReportAllocs()
	for b.Loop() {
		if fs := forms(post, base); len(fs) != 1 {
			b.Fatal(len(fs))
		}
	}
}

func BenchmarkAuthnRequest(b *testing.B) {
	b.ReportAllocs()
	now := time.Now()
	for b.Loop() {
		_ = authnRequest("_0123456789abcdef0123456789abcdef", now)
	}
}
