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

// Set is a parsed set of pages and messages, each page prepared at Load
// for one brand in every language. It is immutable but for a generic form
// made on first use, and safe for concurrent use.
type Set struct {
	pages    map[string]*page
	messages map[string]map[string]string // lang -> key -> text
	brand    Brand                        // the brand the pages are prepared for
}

// page is one page: its sources, its forms prepared for the Set's brand
// (forms[i] for Languages[i], see fold.go), and the generic form, which
// looks the messages up in .T while rendering and is made only for a
// caller's own .T, a language without a catalog or another brand (never
// by the server).
type page struct {
	file         string
	layout, body string // the layout's source is shared by every page
	forms        []*template.Template
	// plans[i] is forms[i] compiled (compile.go), nil where it could not be.
	plans   []renderFn
	generic lazy
}

// lazy is a parsed page made once, on first use; t is nil if that failed.
type lazy struct {
	once sync.Once
	t    *template.Template
	err  error
}

// get returns the form, making it with build on first use.
func (l *lazy) get(build func() (*template.Template, error)) (*template.Template, error) {
	l.once.Do(func() { l.t, l.err = build() })
	return l.t, l.err
}

// Load parses the embedded pages and messages; files in overrideDir (when
// not empty) replace embedded files of the same name. Every page is
// prepared for brand b in each language here, so a page that html/template
// cannot escape safely fails Load rather than every render, and no render
// pays for the preparation.
func Load(overrideDir string, b Brand) (*Set, error) {
	var fsys fs.FS = embedded
	if overrideDir != "" {
		fsys = overlay{top: os.DirFS(overrideDir), base: embedded}
	}
	msgs, err := loadMessages(fsys)
	if err != nil {
		return nil, err
	}
	rawLayout, err := fs.ReadFile(fsys, "layout.html")
	if err != nil {
		return nil, fmt.Errorf("templates: layout.html: %w", err)
	}
	layout := string(rawLayout)
	names, err := globAll(fsys, "*.html")
	if err != nil {
		return nil, err
	}
	s := &Set{pages: map[string]*page{}, messages: msgs, brand: b}
	for _, n := range names {
		name := strings.TrimSuffix(n, ".html")
		if name == rootName || s.pages[name] != nil {
			continue
		}
		body, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("templates: %s: %w", n, err)
		}
		pg := &page{layout: layout, body: string(body), file: n,
			forms: make([]*template.Template, len(Languages)), plans: make([]renderFn, len(Languages))}
		for i, l := range Languages {
			if pg.forms[i], err = pg.specialise(l, msgs[l], b); err != nil {
				return nil, err
			}
			pg.plans[i] = compile(pg.forms[i])
		}
		s.pages[name] = pg
	}
	return s, nil
}

// specialise parses the page and specialises it for lang and brand b.
func (pg *page) specialise(lang string, msgs map[string]string, b Brand) (*template.Template, error) {
	t, err := parsePage(pg.layout, pg.file, pg.body)
	if err != nil {
		return nil, err
	}
	if err := specialise(t, pageConstants(lang, msgs, &b)); err != nil {
		return nil, fmt.Errorf("templates: %s: %w", pg.file, err)
	}
	return t, nil
}

// parsePage parses the layout with the page file n (body) in it.
// The parsed templates keep the sources, so the strings are shared rather
// than converted here.
func parsePage(layout, n, body string) (*template.Template, error) {
	t, err := template.New(rootName).Funcs(funcs).Parse(layout)
	if err != nil {
		return nil, fmt.Errorf("templates: layout.html: %w", err)
	}
	if _, err := t.New(n).Parse(body); err != nil {
		return nil, fmt.Errorf("templates: %s: %w", n, err)
	}
	return t, nil
}

var funcs = template.FuncMap{"tr": tr}

// tr looks up a message key chosen at run time (e.g. an error message):
// the message, or the key itself when the catalog has none.
func tr(t map[string]string, key string) string {
	if v, ok := t[key]; ok {
		return v
	}
	return key
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
// With p.T nil and p.Brand the Set's (as the server renders), the page
// runs as prepared at Load; a caller's own p.T, a language without a
// catalog, or another brand runs the generic page, which looks each
// message up and gives the same bytes.
func (s *Set) Render(w io.Writer, name string, p Page) error {
	pg := s.pages[name]
	if pg == nil {
		return fmt.Errorf("templates: no page %q", name)
	}
	var (
		t    *template.Template
		plan renderFn
	)
	if p.T == nil {
		if i := langIndex(p.Lang); i >= 0 && p.Brand == s.brand {
			t, plan = pg.forms[i], pg.plans[i]
		}
		p.T = s.Messages(p.Lang)
	}
	if t == nil {
		var err error
		t, err = pg.generic.get(func() (*template.Template, error) {
			return parsePage(pg.layout, pg.file, pg.body)
		})
		if err != nil {
			return fmt.Errorf("templates: render %s: %w", name, err)
		}
	}
	if buf, ok := w.(*bytes.Buffer); ok {
		return execute(buf, t, plan, name, &p)
	}
	buf := GetBuffer()
	defer PutBuffer(buf)
	if err := execute(buf, t, plan, name, &p); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// execute appends the page to buf: by its plan when it has one and the
// plan can render p, else by the template; on error buf is as it was.
func execute(buf *bytes.Buffer, t *template.Template, plan renderFn, name string, p *Page) error {
	start := buf.Len()
	if plan != nil {
		err := runPlan(plan, buf, p)
		if err == nil {
			return nil
		}
		buf.Truncate(start)
		if !errors.Is(err, errFallback) {
			return fmt.Errorf("templates: render %s: %w", name, err)
		}
	}
	if err := t.ExecuteTemplate(buf, rootName, *p); err != nil {
		buf.Truncate(start)
		return fmt.Errorf("templates: render %s: %w", name, err)
	}
	return nil
}

// runPlan runs a compiled page. A panic in it (a method of the page's
// data that panics) is left to the template to meet again and report as
// text/template does, as an error.
func runPlan(plan renderFn, buf *bytes.Buffer, p *Page) (err error) {
	defer func() {
		if recover() != nil {
			err = errFallback
		}
	}()
	return plan(buf, p)
}

// langIndex is the index of lang in Languages, -1 for none.
func langIndex(lang string) int {
	for i, l := range Languages {
		if l == lang {
			return i
		}
	}
	return -1
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
