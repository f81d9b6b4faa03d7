package templates

import (
	"bytes"
	"errors"
	"html/template"
	"strings"
	"sync"
	"testing"
)

// renderBoth renders page name for p by its compiled plan (which must
// exist and must not fall back when mustCompile is set) and by
// html/template, and requires the same bytes.
func renderBoth(t *testing.T, s *Set, name string, p Page, mustCompile bool) {
	t.Helper()
	i := langIndex(p.Lang)
	pg := s.pages[name]
	plan := pg.plans[i]
	if plan == nil {
		if mustCompile {
			t.Fatalf("%s (%s) was not compiled", name, p.Lang)
		}
		return
	}
	if p.T == nil {
		p.T = s.Messages(p.Lang)
	}
	var compiled, executed bytes.Buffer
	err := plan(&compiled, &p)
	if errors.Is(err, errFallback) && !mustCompile {
		return
	}
	if err != nil {
		t.Fatalf("%s (%s): compiled render: %v", name, p.Lang, err)
	}
	if err := pg.forms[i].ExecuteTemplate(&executed, rootName, p); err != nil {
		t.Fatalf("%s (%s): template: %v", name, p.Lang, err)
	}
	if !bytes.Equal(compiled.Bytes(), executed.Bytes()) {
		a, b := compiled.String(), executed.String()
		j := 0
		for j < len(a) && j < len(b) && a[j] == b[j] {
			j++
		}
		t.Fatalf("%s (%s): compiled and template renders differ at byte %d:\ncompiled: %.120q\ntemplate: %.120q", name, p.Lang, j, a[j:], b[j:])
	}
}

// The pages of a sign-in are compiled, and every golden case renders the
// same by plan and by html/template (the pages compile does not handle,
// such as those with range, are left to html/template).
func TestCompiledMatchesTemplate(t *testing.T) {
	s, err := Load("", goldenBrand())
	if err != nil {
		t.Fatal(err)
	}
	hot := map[string]bool{"login": true, "saml_post": true, "error": true, "logged_out": true}
	for name, tc := range goldenCases() {
		for _, lang := range Languages {
			t.Run(name+"_"+lang, func(t *testing.T) {
				renderBoth(t, s, tc.page, goldenPage(lang, tc.data), hot[tc.page])
				p := goldenPage(lang, tc.data)
				p.RequestID, p.LangURLs = "", nil
				renderBoth(t, s, tc.page, p, hot[tc.page])
			})
		}
	}
}

// Data of other shapes (a map, a pointer, a struct missing fields) gives
// html/template's result, error included, whether the plan renders it
// (the map and the pointer) or falls back (the partial struct).
func TestCompiledFallsBack(t *testing.T) {
	s, err := Load("", goldenBrand())
	if err != nil {
		t.Fatal(err)
	}
	type partial struct{ CSRF string } // no Username, FlowID...
	for _, data := range []any{
		map[string]any{"CSRF": "c", "Username": "u" + hostile, "FlowID": "", "SPName": "", "ErrorKey": "", "HelpURL": "", "WaitMinutes": 0},
		&loginData{CSRF: "pointer" + hostile},
		partial{CSRF: "c"},
	} {
		p := goldenPage("ko", data)
		var viaRender, viaTemplate bytes.Buffer
		renderErr := s.Render(&viaRender, "login", p)
		p.T = s.Messages("ko")
		templErr := s.pages["login"].forms[0].ExecuteTemplate(&viaTemplate, rootName, p)
		if templErr != nil {
			// Render leaves nothing of a page that failed.
			if renderErr == nil || viaRender.Len() != 0 {
				t.Errorf("data %T: Render gave (%d bytes, %v), html/template failed: %v", data, viaRender.Len(), renderErr, templErr)
			}
			continue
		}
		if renderErr != nil || !bytes.Equal(viaRender.Bytes(), viaTemplate.Bytes()) {
			t.Errorf("data %T: Render gave (%d bytes, %v), html/template %d bytes", data, viaRender.Len(), renderErr, viaTemplate.Len())
		}
	}
}

// escapeCases are inputs for the escapers: each byte, the characters
// html/template treats specially, percent escapes and URL schemes.
func escapeCases() []string {
	cases := []string{"", hostile, "a+b c", "%", "%4", "%41", "%zz", "a%2", "x%2Fy", "%%41",
		"javascript:alert(1)", "JavaScript:x", "https://a.example/p?q=1&r=<2>#f", "HTTP://A", "mailto:a@b", "data:text/html,x",
		"/rel:ative", "//host/x", "tel:1", ":x", "a/b:c", "\u2028\u2029", "\uFDD0\uFFFE", "\xff\xfe", "한국어 로그인", "~!@#$&*()-_=+[]{};:'\",.<>/?\\|`"}
	for c := range 256 {
		cases = append(cases, string([]byte{byte(c)}), "a"+string([]byte{byte(c)})+"z")
	}
	return cases
}

// The escapers give what html/template's give, in the contexts the pages
// use them: HTML text, quoted attributes, URL attributes and <title>.
func TestEscapersMatchHTMLTemplate(t *testing.T) {
	for _, s := range escapeCases() {
		checkEscapers(t, s)
	}
}

func FuzzEscapers(f *testing.F) {
	for _, s := range escapeCases() {
		f.Add(s)
	}
	f.Fuzz(checkEscapers)
}

var escapeContexts = []struct {
	name, tmpl string
	chain      []escaper
}{
	{"text", `<p>{{.}}</p>`, []escaper{escapeHTML}},
	{"attr", `<input value="{{.}}">`, []escaper{escapeAttr}},
	{"url", `<a href="{{.}}">`, []escaper{filterURL, normalizeURL, escapeAttr}},
	{"title", `<title>{{.}}</title>`, []escaper{escapeAttr}},
}

func checkEscapers(t *testing.T, s string) {
	for _, c := range escapeContexts {
		want := execTemplate(t, c.tmpl, s)
		got := s
		ct := ctPlain
		for _, esc := range c.chain {
			var err error
			if got, err = esc(got, ct); err != nil {
				t.Fatalf("%s %q: %v", c.name, s, err)
			}
			ct = ctPlain
		}
		if want != wrapped(c.tmpl, got) {
			t.Errorf("%s %q: got %q, html/template %q", c.name, s, wrapped(c.tmpl, got), want)
		}
	}
	// Typed HTML in text goes in as it is.
	h := execTemplate(t, `<p>{{.}}</p>`, template.HTML(s))
	if got, _ := escapeHTML(s, ctHTML); h != "<p>"+got+"</p>" {
		t.Errorf("typed HTML %q: got %q, html/template %q", s, got, h)
	}
}

// parsedContexts are the contexts' templates, parsed once (the fuzz
// target runs them some thousands of times a second).
var parsedContexts sync.Map // source -> *template.Template

func execTemplate(t *testing.T, tmpl string, v any) string {
	t.Helper()
	pt, ok := parsedContexts.Load(tmpl)
	if !ok {
		pt, _ = parsedContexts.LoadOrStore(tmpl, template.Must(template.New("x").Parse(tmpl)))
	}
	var b strings.Builder
	if err := pt.(*template.Template).Execute(&b, v); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func wrapped(tmpl, v string) string { return strings.Replace(tmpl, "{{.}}", v, 1) }

// FuzzCompiledPages: the login and auto-POST pages render the same by
// plan and by html/template whatever the request brings.
func FuzzCompiledPages(f *testing.F) {
	f.Add("csrf", "flow-1", "WORKS", "alice", "login_failed", "https://help.example.test/?a=1", 0, "https://sp.example.test/acs", "rs")
	f.Add(hostile, hostile, hostile, hostile, "no_such_key"+hostile, "javascript:x", 5, "data:x", "")
	s, err := Load("", goldenBrand())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, csrf, flow, sp, user, errKey, help string, wait int, action, relay string) {
		for _, lang := range Languages {
			renderBoth(t, s, "login", goldenPage(lang, loginData{CSRF: csrf, FlowID: flow, SPName: sp, Username: user, ErrorKey: errKey, HelpURL: help, WaitMinutes: wait}), true)
			renderBoth(t, s, "saml_post", goldenPage(lang, postData{Action: action, SAMLResponseInput: samlInput(user), RelayState: relay, HasRelayState: relay != "", SPName: sp}), true)
		}
	})
}

type panicky struct{ CSRF string }

func (panicky) Username() string { panic("data method panics") }

type inner struct{ CSRF string }
type outer struct{ *inner }

// A data method that panics, or a nil embedded pointer on a field's way,
// gives html/template's error, not a panic out of Render.
func TestCompiledRenderSurvivesData(t *testing.T) {
	s, err := Load("", goldenBrand())
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range []any{panicky{CSRF: "c"}, outer{}} {
		var b bytes.Buffer
		err := s.Render(&b, "login", goldenPage("ko", data))
		if err == nil || b.Len() != 0 {
			t.Errorf("data %T: Render = (%d bytes, %v), want html/template's error and nothing written", data, b.Len(), err)
		}
	}
}
