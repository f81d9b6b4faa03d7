package templates

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestSpecialisedMatchesGeneric renders pages whose dot is not always the
// Page (range, with, templates called with other data, $ in loops,
// messages in JS, CSS and URL contexts, keys the catalog lacks) both with
// the language built in and with the generic page that looks messages up,
// and requires the same bytes.
func TestSpecialisedMatchesGeneric(t *testing.T) {
	dir := t.TempDir()
	page := `{{define "title"}}{{.T.login_title}} {{if eq .Lang "ko"}}K{{else if eq $.Lang "en"}}E{{end}}{{end}}
{{define "content"}}
<p title="{{.T.login_caps_lock}}">{{.T.login_heading}} {{.T.no_such_key}} {{printf .T.login_for_sp "x<y"}}</p>
{{range .Data.Items}}<i>{{.T.login_title}} {{$.T.login_submit}} {{.Lang}} {{$.Lang}}</i>{{end}}
{{with .Data}}<w>{{.T.login_title}}</w>{{template "item2" .}}{{range .Items}}{{template "page2" $}}{{end}}{{else}}{{.T.login_lead}}{{end}}
{{template "item" .Data}}{{template "page" .}}
{{block "blk" .}}<b>{{.T.error_back}}</b>{{end}}
<a href="/x?m={{.T.login_failed}}&l={{.Lang}}">a</a>
<script nonce="{{.Nonce}}">var m = {{.T.admin_copied}}, l = {{.Lang}};</script>
<style nonce="{{.Nonce}}">p{content:"{{.T.login_title}}"}</style>
{{if "const"}}C{{end}}{{if eq "a" "b"}}X{{else}}Y{{end}}{{if not ""}}N{{end}}{{if and 1 0}}A{{else}}B{{end}}
{{$t := .T}}{{$t.login_title}}
{{end}}
{{define "item"}}<em>{{.T.login_title}}</em>{{end}}
{{define "page"}}<u>{{.T.help_link}}</u>{{end}}
{{define "item2"}}<em2>{{.T.login_title}}</em2>{{end}}
{{define "page2"}}<u2>{{.T.help_link}} {{.Lang}}</u2>{{end}}
`
	if err := os.WriteFile(filepath.Join(dir, "tricky.html"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(dir, goldenBrand())
	if err != nil {
		t.Fatal(err)
	}
	type item struct {
		T    map[string]string
		Lang string
	}
	data := struct {
		Items []item
		T     map[string]string
	}{Items: []item{{T: map[string]string{"login_title": "item-<k>"}, Lang: "item-lang"}}, T: map[string]string{"login_title": "data-k"}}
	for _, lang := range Languages {
		t.Run(lang, func(t *testing.T) {
			p := goldenPage(lang, data)
			var specialised, generic bytes.Buffer
			if err := s.Render(&specialised, "tricky", p); err != nil {
				t.Fatal(err)
			}
			p.T = s.Messages(lang)
			if err := s.Render(&generic, "tricky", p); err != nil {
				t.Fatal(err)
			}
			if specialised.String() != generic.String() {
				t.Errorf("specialised page differs:\n%s", firstDiff(generic.String(), specialised.String()))
			}
			for _, want := range []string{"item-&lt;k&gt;", "data-k", "<em>data-k</em>", "<em2>data-k</em2>", "item-lang", "<u2>" + s.Messages(lang)["help_link"] + " " + lang + "</u2>", "<u>" + s.Messages(lang)["help_link"] + "</u>"} {
				if !strings.Contains(specialised.String(), want) {
					t.Errorf("output lacks %q", want)
				}
			}
		})
	}
}

// lookup matches a message or language lookup, or a constant left unfolded.
var lookup = regexp.MustCompile(`\.T\.|\.Lang\b|\.Brand\.|\{\{"`)

// TestSpecialisedPagesLookNothingUp pins that the optimisation holds: the
// login and SAML pages, as rendered, no longer evaluate .T or .Lang.
func TestSpecialisedPagesLookNothingUp(t *testing.T) {
	s, err := Load("", Brand{CompanyName: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"login", "saml_post", "error", "logged_out"} {
		for i, lang := range Languages {
			form := s.pages[name].forms[i]
			for _, x := range form.Templates() {
				if x.Tree == nil || x.Name() == "title" { // "title" runs as a copy derived for <title>
					continue
				}
				src := x.Tree.Root.String()
				if m := lookup.FindString(src); m != "" {
					t.Errorf("%s/%s: template %s still has %q:\n%s", name, lang, x.Name(), m, src)
				}
			}
		}
	}
}

// TestLoadReportsEscapingErrors: a page html/template cannot escape fails
// Load, not every render.
func TestLoadReportsEscapingErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.html"), []byte(`{{define "title"}}t{{end}}{{define "content"}}<a href="{{if .Lang}}x{{end}}{{.Nonce}}">{{end}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, Brand{}); err == nil || !strings.Contains(err.Error(), "bad.html") {
		t.Errorf("Load = %v, want an escaping error naming bad.html", err)
	}
}

// TestRenderConcurrently renders the prepared pages (the Set's brand) and
// the generic one (another brand), which is made on first use, from
// several goroutines at once (run with -race): every render gives the
// generic page's bytes.
func TestRenderConcurrently(t *testing.T) {
	s, err := Load("", goldenBrand())
	if err != nil {
		t.Fatal(err)
	}
	const workers, variants = 4, 4
	page := func(i int) Page {
		p := goldenPage(Languages[i%len(Languages)], loginData{CSRF: "c"})
		if i >= 2 {
			p.Brand.CompanyName = "Other " + strconv.Itoa(i)
		}
		return p
	}
	want := make([]string, variants)
	for i := range variants {
		ref, err := Load("", Brand{})
		if err != nil {
			t.Fatal(err)
		}
		p := page(i)
		p.T = ref.Messages(p.Lang)
		var b strings.Builder
		if err := ref.Render(&b, "login", p); err != nil {
			t.Fatal(err)
		}
		want[i] = b.String()
	}
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := range variants {
				i := (i + w) % variants
				var got strings.Builder
				if err := s.Render(&got, "login", page(i)); err != nil {
					errs <- err
					return
				}
				if got.String() != want[i] {
					errs <- fmt.Errorf("variant %d: output differs from the generic page", i)
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
