package templates

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

//go:embed *.html messages/*.json
var embedded embed.FS

// Languages are the supported page languages; the first is the default.
var Languages = []string{"ko", "en"}

// DefaultLang is the language used when the browser expresses no preference
// we support.
const DefaultLang = "ko"

// Brand is the company branding shown on every page.
type Brand struct {
	// CompanyName is shown in the header and page titles.
	CompanyName string
	// LogoURL is the same-origin URL of the logo, empty for none.
	LogoURL string
	// PrimaryColor is a CSS colour (#rrggbb) for buttons and links.
	PrimaryColor string
}

// Page is what every page template is executed with.
type Page struct {
	Lang  string
	T     map[string]string
	Nonce string
	Brand Brand
	// RequestID is the reference an employee can quote to IT.
	RequestID string
	// LangURLs maps each language to a URL of the same page in it.
	LangURLs map[string]string
	Data     any
}

// Set is a parsed set of pages and messages. It is immutable and safe for
// concurrent use.
type Set struct {
	pages    map[string]*page
	messages map[string]map[string]string // lang -> key -> text
	// branded holds pages specialised for a brand too (brandKey ->
	// *template.Template), made on first use; nBranded counts them.
	branded  sync.Map
	nBranded atomic.Int32
}

// page is one page parsed inside the layout: generic looks the messages up
// in .T while rendering; byLang has each language's messages built in
// (see fold.go) and renders the same bytes several times faster.
type page struct {
	generic *template.Template
	byLang  map[string]*template.Template
	// The sources, to specialise the page for a brand.
	layout, body []byte
	file         string
}

// maxBranded bounds the pages specialised for a brand. A server renders
// every page with its one brand (a reload starts a new Set); more brands
// than this share the pages specialised for the language only.
const maxBranded = 128

type brandKey struct {
	page, lang string
	brand      Brand
}

// Load parses the embedded pages and messages; files in overrideDir (when
// not empty) replace embedded files of the same name. A page that
// html/template cannot escape safely fails Load rather than every render.
func Load(overrideDir string) (*Set, error) {
	var fsys fs.FS = embedded
	if overrideDir != "" {
		fsys = overlay{top: os.DirFS(overrideDir), base: embedded}
	}
	msgs, err := loadMessages(fsys)
	if err != nil {
		return nil, err
	}
	layout, err := fs.ReadFile(fsys, "layout.html")
	if err != nil {
		return nil, fmt.Errorf("templates: layout.html: %w", err)
	}
	names, err := globAll(fsys, "*.html")
	if err != nil {
		return nil, err
	}
	s := &Set{pages: map[string]*page{}, messages: msgs}
	for _, n := range names {
		name := strings.TrimSuffix(n, ".html")
		if name == rootName || s.pages[name] != nil {
			continue
		}
		body, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("templates: %s: %w", n, err)
		}
		pg := &page{byLang: map[string]*template.Template{}, layout: layout, body: body, file: n}
		if pg.generic, err = parsePage(layout, n, body); err != nil {
			return nil, err
		}
		for _, l := range Languages {
			t, err := parsePage(layout, n, body)
			if err != nil {
				return nil, err
			}
			if err := specialise(t, pageConstants(l, msgs[l], nil)); err != nil {
				return nil, fmt.Errorf("templates: %s: %w", n, err)
			}
			pg.byLang[l] = t
		}
		s.pages[name] = pg
	}
	return s, nil
}

// parsePage parses the layout with the page file n (body) in it.
func parsePage(layout []byte, n string, body []byte) (*template.Template, error) {
	t, err := template.New(rootName).Funcs(funcs).Parse(string(layout))
	if err != nil {
		return nil, fmt.Errorf("templates: layout.html: %w", err)
	}
	if _, err := t.New(n).Parse(string(body)); err != nil {
		return nil, fmt.Errorf("templates: %s: %w", n, err)
	}
	return t, nil
}

var funcs = template.FuncMap{
	// tr looks up a message key chosen at run time (e.g. an error message).
	"tr": func(t map[string]string, key string) string {
		if v, ok := t[key]; ok {
			return v
		}
		return key
	},
}

func loadMessages(fsys fs.FS) (map[string]map[string]string, error) {
	files, err := globAll(fsys, "messages/*.json")
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for _, l := range Languages {
		out[l] = map[string]string{}
	}
	owner := map[string]string{}
	var problems []string
	for _, f := range files {
		raw, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("templates: %s: %w", f, err)
		}
		var m map[string]map[string]string
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("templates: %s: %w", f, err)
		}
		for key, tr := range m {
			if prev, dup := owner[key]; dup {
				problems = append(problems, fmt.Sprintf("%s: key %q already defined in %s", f, key, prev))
				continue
			}
			owner[key] = f
			for _, l := range Languages {
				v := tr[l]
				if strings.TrimSpace(v) == "" {
					problems = append(problems, fmt.Sprintf("%s: key %q has no %q text", f, key, l))
				}
				out[l][key] = v
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, errors.New("templates: message catalog: " + strings.Join(problems, "; "))
	}
	return out, nil
}

// globAll globs every layer of an overlay (a directory of the top layer
// would otherwise hide the same directory of the base).
func globAll(fsys fs.FS, pattern string) ([]string, error) {
	layers := []fs.FS{fsys}
	if od, ok := fsys.(overlay); ok {
		layers = []fs.FS{od.base, od.top}
	}
	var out []string
	for _, l := range layers {
		m, err := fs.Glob(l, pattern)
		if err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
		out = append(out, m...)
	}
	sort.Strings(out)
	return dedupe(out), nil
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Messages returns the message map for lang (the default language for an
// unsupported one). The map must not be modified.
func (s *Set) Messages(lang string) map[string]string {
	if m, ok := s.messages[lang]; ok {
		return m
	}
	return s.messages[DefaultLang]
}

// Has reports whether a page exists.
func (s *Set) Has(name string) bool { return s.pages[name] != nil }

// Render executes page name with p into w. A page is rendered whole before
// any of it is written, so that a template error never leaves half a page
// behind: into w itself when w is a *bytes.Buffer (truncated back on
// error), else into a pooled buffer.
//
// With p.T nil (as the server renders), the page runs with p.Lang's
// messages and p.Brand built in (the first render for a brand prepares
// it); a caller's own p.T, or a language without a catalog, runs the
// generic page, which looks each message up.
func (s *Set) Render(w io.Writer, name string, p Page) error {
	pg := s.pages[name]
	if pg == nil {
		return fmt.Errorf("templates: no page %q", name)
	}
	t := pg.generic
	if p.T == nil {
		if lt := pg.byLang[p.Lang]; lt != nil {
			t = s.forBrand(name, pg, p.Lang, p.Brand, lt)
		}
		p.T = s.Messages(p.Lang)
	}
	if buf, ok := w.(*bytes.Buffer); ok {
		start := buf.Len()
		if err := t.ExecuteTemplate(buf, rootName, p); err != nil {
			buf.Truncate(start)
			return fmt.Errorf("templates: render %s: %w", name, err)
		}
		return nil
	}
	buf := GetBuffer()
	defer PutBuffer(buf)
	if err := t.ExecuteTemplate(buf, rootName, p); err != nil {
		return fmt.Errorf("templates: render %s: %w", name, err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// forBrand returns page name specialised for lang and brand b, making it on
// first use; langOnly (the page specialised for lang) when there are too
// many brands.
func (s *Set) forBrand(name string, pg *page, lang string, b Brand, langOnly *template.Template) *template.Template {
	key := brandKey{page: name, lang: lang, brand: b}
	if t, ok := s.branded.Load(key); ok {
		return t.(*template.Template)
	}
	if s.nBranded.Load() >= maxBranded {
		return langOnly
	}
	s.nBranded.Add(1)
	t, err := parsePage(pg.layout, pg.file, pg.body)
	if err == nil {
		err = specialise(t, pageConstants(lang, s.messages[lang], &b))
	}
	if err != nil {
		// Not expected: the same sources were specialised by Load, and
		// constants do not change an action's escaping context.
		t = langOnly
	}
	actual, _ := s.branded.LoadOrStore(key, t)
	return actual.(*template.Template)
}

// overlay is a file system whose top layer shadows the base layer.
type overlay struct {
	top, base fs.FS
}

func (o overlay) Open(name string) (fs.File, error) {
	if f, err := o.top.Open(path.Clean(name)); err == nil {
		return f, nil
	}
	return o.base.Open(name)
}

// PickLang chooses a supported language from an Accept-Language header
// value, honouring q-values loosely (first supported tag wins in order).
func PickLang(acceptLanguage string) string {
	best, bestQ := "", -1.0
	for _, part := range strings.Split(acceptLanguage, ",") {
		tag, q := strings.TrimSpace(part), 1.0
		if i := strings.Index(tag, ";"); i >= 0 {
			var qv float64
			if _, err := fmt.Sscanf(strings.TrimSpace(tag[i+1:]), "q=%g", &qv); err == nil {
				q = qv
			}
			tag = strings.TrimSpace(tag[:i])
		}
		base := strings.ToLower(tag)
		if j := strings.IndexAny(base, "-_"); j >= 0 {
			base = base[:j]
		}
		for _, l := range Languages {
			if base == l && q > bestQ {
				best, bestQ = l, q
			}
		}
	}
	if best == "" {
		return DefaultLang
	}
	return best
}
