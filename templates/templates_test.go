package templates

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestCatalogComplete(t *testing.T) {
	s, err := Load("", Brand{})
	if err != nil {
		t.Fatal(err)
	}
	// Every {{.T.key}} a page uses exists in both languages.
	ref := regexp.MustCompile(`\.T\.([a-z0-9_]+)`)
	pages, _ := fs.Glob(embedded, "*.html")
	for _, p := range pages {
		b, _ := fs.ReadFile(embedded, p)
		for _, m := range ref.FindAllStringSubmatch(string(b), -1) {
			for _, l := range Languages {
				if _, ok := s.Messages(l)[m[1]]; !ok {
					t.Errorf("%s uses %s, missing in %s", p, m[1], l)
				}
			}
		}
	}
}

func TestRenderEscapesAndSwitchesLanguage(t *testing.T) {
	s, err := Load("", Brand{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	err = s.Render(&b, "error", Page{Lang: "en", Nonce: "n0nce", Brand: Brand{CompanyName: `<b>Acme</b>`},
		Data: struct{ TitleKey, MessageKey, BackURL string }{"error_title", "error_bad_request", "/login"}})
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "<b>Acme</b>") || !strings.Contains(out, "&lt;b&gt;Acme") {
		t.Error("brand not escaped")
	}
	if !strings.Contains(out, `<html lang="en">`) || !strings.Contains(out, "The request was not valid") || !strings.Contains(out, `nonce="n0nce"`) {
		t.Errorf("render:\n%s", out)
	}
}

func TestOverrideDirAndCatalogChecks(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "messages"), 0o755)
	os.WriteFile(filepath.Join(dir, "logged_out.html"), []byte(`{{define "title"}}x{{end}}{{define "content"}}CUSTOM PAGE{{end}}`), 0o644)
	s, err := Load(dir, Brand{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := s.Render(&b, "logged_out", Page{Lang: "ko"}); err != nil || !strings.Contains(b.String(), "CUSTOM PAGE") {
		t.Fatalf("override not used: %v", err)
	}
	// A message without English, or defined twice, fails loading.
	os.WriteFile(filepath.Join(dir, "messages", "extra.json"), []byte(`{"login_title": {"ko": "x", "en": "y"}, "new_key": {"ko": "만"}}`), 0o644)
	_, err = Load(dir, Brand{})
	if err == nil || !strings.Contains(err.Error(), "already defined") || !strings.Contains(err.Error(), `no "en" text`) {
		t.Errorf("catalog problems not reported: %v", err)
	}
}

func TestPickLang(t *testing.T) {
	for in, want := range map[string]string{
		"":                         "ko",
		"en-US,en;q=0.9":           "en",
		"ko-KR,ko;q=0.9,en;q=0.8":  "ko",
		"fr-FR, en;q=0.5, ko;q=.4": "en",
		"ja":                       "ko",
	} {
		if got := PickLang(in); got != want {
			t.Errorf("PickLang(%q) = %q, want %q", in, got, want)
		}
	}
}
