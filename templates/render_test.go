package templates

import (
	"bytes"
	"flag"
	"html/template"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden from the current templates")

// The page data below mirrors the handlers' own types (idp/server,
// saml, cmd/idp); templates only see field names.

type loginData struct {
	FlowID, SPName, Username, CSRF, ErrorKey, HelpURL string
	WaitMinutes                                       int
}

func (d loginData) FlowURL() string { return "/login?flow=" + url.QueryEscape(d.FlowID) }

type postData struct {
	Action            string
	SAMLResponseInput template.HTML
	RelayState        string
	HasRelayState     bool
	SPName            string
}

// samlInput is the SAMLResponse field of a page, as the saml package makes
// it.
func samlInput(xml string) template.HTML {
	h, _, _ := HiddenBase64Input("SAMLResponse", []byte(xml))
	return h
}

type errorData struct{ TitleKey, MessageKey, BackURL string }

type link struct{ Key, URL string }

type homeData struct {
	Name, Email, Username, Since string
	Links                        []link
}

type consoleField struct{ LabelKO, LabelEN, Value, Note string }

type consoleSP struct {
	Name, Mode, Profile string
	Fields              []consoleField
}

type console struct {
	Warnings         []string
	ServiceProviders []consoleSP
}

type check struct {
	OK, Warn          bool
	What, Detail, Fix string
}

type event struct {
	When, User, Login, SP, Mode, Result, Reason, IP, UserAgent, RequestID string
}

type adminData struct {
	Name         string
	Console      console
	ConsoleError bool
	Checks       []check
	Events       []event
	EventsError  bool
	User         string
	Certificate  bool
}

type demoStep struct {
	Title             string
	Status            int
	Millis            string
	Request, Response string
}

type demoPage struct {
	Error, Result string
	Steps         []demoStep
	SAML          bool
}

// hostile is untrusted input placed wherever a page shows request data: the
// goldens pin that it comes out escaped for its context.
const hostile = `"><script>alert(1)</script>&'`

// goldenCases are every page, in the variants its handlers render.
func goldenCases() map[string]struct {
	page string
	data any
} {
	return map[string]struct {
		page string
		data any
	}{
		"login":            {"login", loginData{CSRF: "csrf-token"}},
		"login_flow":       {"login", loginData{CSRF: "csrf-token", FlowID: "flow-1", SPName: "WORKPLACE " + hostile, Username: "alice" + hostile}},
		"login_error":      {"login", loginData{CSRF: "csrf-token", FlowID: "flow-1", Username: "alice", ErrorKey: "login_failed", HelpURL: "https://help.example.test/pw?a=1&b=" + hostile}},
		"login_throttled":  {"login", loginData{CSRF: "csrf-token", Username: "alice", ErrorKey: "login_throttled", WaitMinutes: 5}},
		"login_unknownkey": {"login", loginData{CSRF: "csrf-token", ErrorKey: "no_such_key" + hostile}},
		"saml_post":        {"saml_post", postData{Action: "https://sp.example.test/acs?x=" + hostile, SAMLResponseInput: samlInput("<samlp:Response />"), SPName: "WORKS " + hostile}},
		"saml_post_relay":  {"saml_post", postData{Action: "https://sp.example.test/acs", SAMLResponseInput: samlInput("<samlp:Response />"), RelayState: "rs" + hostile, HasRelayState: true}},
		"error":            {"error", errorData{TitleKey: "error_title", MessageKey: "error_bad_request", BackURL: "/login"}},
		"error_nokey":      {"error", errorData{TitleKey: "x" + hostile, MessageKey: "y" + hostile}},
		"home": {"home", homeData{Name: "Alice " + hostile, Email: "alice@example.test", Username: "alice", Since: "09:00",
			Links: []link{{Key: "demo_sp_link", URL: "/demo/sp"}, {Key: "raw " + hostile, URL: "javascript:alert(1)"}}}},
		"logged_out": {"logged_out", nil},
		"admin": {"admin", adminData{
			Name: "Admin " + hostile,
			Console: console{Warnings: []string{"warn " + hostile}, ServiceProviders: []consoleSP{
				{Name: "works", Mode: "saml", Profile: "works", Fields: []consoleField{{LabelKO: "엔티티 ID", LabelEN: "Entity ID", Value: "https://idp.example.test" + hostile, Note: "note " + hostile}}},
				{Name: "wp", Mode: "oauth", Profile: "workplace", Fields: []consoleField{{LabelKO: "클라이언트", LabelEN: "Client", Value: "client-1"}}},
			}},
			Checks: []check{{OK: true, What: "ldap"}, {OK: true, Warn: true, What: "tls", Detail: "d" + hostile, Fix: "f"}, {What: "saml", Detail: "bad", Fix: "fix " + hostile}},
			Events: []event{{When: "09:00", User: "alice" + hostile, Login: "alice", SP: "works", Mode: "saml", Result: "success", Reason: "ok", IP: "10.0.0.1", UserAgent: "UA " + hostile, RequestID: "rid"},
				{When: "09:01", User: "bob", Result: "failure", Reason: "bad_password"}},
			User: "alice" + hostile, Certificate: true,
		}},
		"admin_empty": {"admin", adminData{Name: "a", ConsoleError: true, EventsError: true}},
		"demo_sp": {"demo_sp", demoPage{Error: "e" + hostile, Result: "alice" + hostile, SAML: true,
			Steps: []demoStep{{Title: "1" + hostile, Status: 302, Millis: "3 ms", Request: "GET /x?" + hostile, Response: "r" + hostile}, {Title: "2", Request: "q"}}}},
	}
}

func goldenPage(lang string, data any) Page {
	return Page{
		Lang: lang, Nonce: "bm9uY2U", RequestID: "req-" + hostile,
		Brand:    Brand{CompanyName: "Acme " + hostile, PrimaryColor: "#123456"},
		LangURLs: map[string]string{"ko": "/login?flow=f%26x&lang=ko", "en": "/login?flow=f%26x&lang=en"},
		Data:     data,
	}
}

// TestRenderGolden pins every page's exact output in both languages (and
// with a logo, no colour, no reference and no language links), so a change in how pages are rendered cannot
// change what an employee sees. Regenerate with go test -run Golden -update
// after an intended change to a page, and review the diff.
//
// Each page renders as prepared at Load for its language and brand, and,
// from a Set prepared for another brand, as the generic page.
func TestRenderGolden(t *testing.T) {
	logoBrand := Brand{CompanyName: "Acme", LogoURL: "/branding/logo?" + hostile}
	prepared := map[string]*Set{}
	for variant, b := range map[string]Brand{"": goldenBrand(), "_logo": logoBrand} {
		set, err := Load("", b)
		if err != nil {
			t.Fatal(err)
		}
		prepared[variant] = set
	}
	other, err := Load("", Brand{CompanyName: "another company"})
	if err != nil {
		t.Fatal(err)
	}
	s := prepared[""]
	cases := goldenCases()
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	seen := map[string]bool{}
	for _, n := range names {
		tc := cases[n]
		seen[tc.page] = true
		for _, lang := range Languages {
			for _, variant := range []string{"", "_logo"} {
				name := n + "_" + lang + variant
				t.Run(name, func(t *testing.T) {
					p := goldenPage(lang, tc.data)
					if variant != "" {
						p.Brand = logoBrand
						p.RequestID = ""
						p.LangURLs = nil
					}
					for _, set := range []*Set{prepared[variant], other} {
						var b bytes.Buffer
						if err := set.Render(&b, tc.page, p); err != nil {
							t.Fatal(err)
						}
						checkGolden(t, name, b.Bytes())
					}
				})
			}
		}
	}
	for variant, set := range prepared {
		for name, pg := range set.pages {
			if pg.generic.t != nil {
				t.Errorf("%s%s: rendering with the Set's brand made the generic page", name, variant)
			}
		}
	}
	for name, pg := range other.pages {
		if pg.generic.t == nil {
			t.Errorf("%s: another brand did not render the generic page", name)
		}
	}
	for name := range s.pages {
		if !seen[name] {
			t.Errorf("page %q has no golden case", name)
		}
	}
}

// goldenBrand is the brand of goldenPage.
func goldenBrand() Brand { return goldenPage("", nil).Brand }

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	file := filepath.Join("testdata", "golden", name+".html")
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s:\n%s", name, file, firstDiff(string(want), string(got)))
	}
}

// firstDiff shows the first line that differs.
func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ":\nwant: " + w + "\ngot:  " + g
		}
	}
	return "(same lines, different bytes)"
}
