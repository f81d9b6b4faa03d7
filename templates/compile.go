package templates

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"reflect"
	"strings"
	"sync/atomic"
	texttemplate "text/template"
	"text/template/parse"
	"unsafe"
)

// This file compiles a prepared page (fold.go) into Go closures.
//
// A prepared page still runs through text/template: each action left in it
// pays a reflective field lookup and a reflective call per escaper that
// html/template added, some 35 us for the login page and 20 us for the
// SAML auto-POST page (a sixth of the IdP's CPU in a SAML login beyond its
// RSA signatures). compile walks the escaped parse tree once and turns
// each node into a closure: text into a byte copy, a field chain into
// direct field reads, html/template's escapers into the Go functions
// below, which give the same bytes (compile_test.go checks them against
// html/template itself, input by input, and every golden page both ways).
//
// What compile does not know (range, with, variables, other functions or
// escapers, a field it cannot find at render time, a value of a type it
// does not print) makes it give up: the page, or that one render, runs
// through html/template as before.

// renderFn writes its part of a page for p.
type renderFn func(b *bytes.Buffer, p *Page) error

// errFallback ends a compiled render that met something it does not
// handle; Render then executes the template instead.
var errFallback = errors.New("templates: render needs the template")

// maxInline bounds nested {{template}} calls compile follows.
const maxInline = 8

// compiler compiles the trees of one escaped page.
type compiler struct {
	text  *texttemplate.Template
	depth int
}

// compile returns the page t (prepared and escaped) as a renderFn, or nil
// when it uses something compile does not handle.
func compile(t *template.Template) renderFn {
	tt := textTemplateOf(t)
	if tt == nil {
		return nil
	}
	c := &compiler{text: tt}
	root := tt.Lookup(rootName)
	if root == nil || root.Tree == nil {
		return nil
	}
	f, ok := c.list(root.Tree.Root)
	if !ok {
		return nil
	}
	return f
}

// textTemplateOf returns the text/template that html/template executes,
// which also holds the templates html/template derives for other contexts
// (such as "title" inside <title>, escaped for RCDATA). html/template does
// not export it, so the field is read by reflection; should a Go release
// rename or retype it, nothing is compiled and every page runs through
// html/template as before.
func textTemplateOf(t *template.Template) *texttemplate.Template {
	f := reflect.ValueOf(t).Elem().FieldByName("text")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*texttemplate.Template]() {
		return nil
	}
	return *(**texttemplate.Template)(unsafe.Pointer(f.UnsafeAddr()))
}

func (c *compiler) list(l *parse.ListNode) (renderFn, bool) {
	if l == nil {
		return func(*bytes.Buffer, *Page) error { return nil }, true
	}
	var parts []renderFn
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			text := lit
			parts = append(parts, func(b *bytes.Buffer, _ *Page) error { b.Write(text); return nil })
			lit = nil
		}
	}
	for _, n := range l.Nodes {
		var f renderFn
		ok := true
		switch n := n.(type) {
		case *parse.TextNode:
			lit = append(lit, n.Text...)
			continue
		case *parse.ActionNode:
			f, ok = c.action(n.Pipe)
			if ok && isConstant(n.Pipe) {
				// A constant through escapers (fold.go does
				// not see the templates html/template derives, such as
				// a title's in <title>): printed once, here.
				var b bytes.Buffer
				if f(&b, &Page{}) != nil {
					return nil, false
				}
				lit = append(lit, b.Bytes()...)
				continue
			}
		case *parse.IfNode:
			f, ok = c.ifNode(n)
		case *parse.TemplateNode:
			f, ok = c.template(n)
		default:
			return nil, false
		}
		if !ok {
			return nil, false
		}
		flush()
		parts = append(parts, f)
	}
	flush()
	if len(parts) == 1 {
		return parts[0], true
	}
	return func(b *bytes.Buffer, p *Page) error {
		for _, f := range parts {
			if err := f(b, p); err != nil {
				return err
			}
		}
		return nil
	}, true
}

func (c *compiler) template(n *parse.TemplateNode) (renderFn, bool) {
	if n.Pipe == nil || len(n.Pipe.Decl) != 0 || len(n.Pipe.Cmds) != 1 || len(n.Pipe.Cmds[0].Args) != 1 {
		return nil, false
	}
	if _, dot := n.Pipe.Cmds[0].Args[0].(*parse.DotNode); !dot || c.depth >= maxInline {
		return nil, false
	}
	t := c.text.Lookup(n.Name)
	if t == nil || t.Tree == nil {
		return nil, false
	}
	c.depth++
	defer func() { c.depth-- }()
	return c.list(t.Tree.Root)
}

func (c *compiler) ifNode(n *parse.IfNode) (renderFn, bool) {
	cond, ok := c.condition(n.Pipe)
	if !ok {
		return nil, false
	}
	then, ok := c.list(n.List)
	if !ok {
		return nil, false
	}
	els, ok := c.list(n.ElseList)
	if !ok {
		return nil, false
	}
	return func(b *bytes.Buffer, p *Page) error {
		yes, err := cond(p)
		if err != nil {
			return err
		}
		if yes {
			return then(b, p)
		}
		return els(b, p)
	}, true
}

// condition compiles an {{if}} pipeline: a field chain, or not of one.
func (c *compiler) condition(p *parse.PipeNode) (func(*Page) (bool, error), bool) {
	if len(p.Decl) != 0 || len(p.Cmds) != 1 {
		return nil, false
	}
	args := p.Cmds[0].Args
	negate := false
	if len(args) == 2 {
		if id, ok := args[0].(*parse.IdentifierNode); ok && id.Ident == "not" {
			negate, args = true, args[1:]
		}
	}
	if len(args) != 1 {
		return nil, false
	}
	get, ok := field(args[0])
	if !ok {
		return nil, false
	}
	return func(pg *Page) (bool, error) {
		v, err := get(pg)
		if err != nil {
			return false, err
		}
		t, ok := truth(v)
		if !ok {
			return false, errFallback
		}
		return t != negate, nil
	}, true
}

// action compiles a printing pipeline: a value (a field chain, printf of
// a constant or looked-up format, tr) then html/template's escapers.
func (c *compiler) action(p *parse.PipeNode) (renderFn, bool) {
	if len(p.Decl) != 0 || len(p.Cmds) == 0 {
		return nil, false
	}
	val, ok := value(p.Cmds[0])
	if !ok {
		return nil, false
	}
	var escs []escaper
	for _, cmd := range p.Cmds[1:] {
		if len(cmd.Args) != 1 {
			return nil, false
		}
		id, ok := cmd.Args[0].(*parse.IdentifierNode)
		if !ok || escapers[id.Ident] == nil {
			return nil, false
		}
		escs = append(escs, escapers[id.Ident])
	}
	return func(b *bytes.Buffer, pg *Page) error {
		s, ct, err := val(pg)
		if err != nil {
			return err
		}
		for _, esc := range escs {
			if s, err = esc(s, ct); err != nil {
				return err
			}
			ct = ctPlain
		}
		b.WriteString(s)
		return nil
	}, true
}

// A valueFn gives a pipeline's value as text and its html/template
// content type.
type valueFn func(*Page) (string, contentType, error)

// value compiles the first command of a printing pipeline.
func value(cmd *parse.CommandNode) (valueFn, bool) {
	args := cmd.Args
	if c, ok := args[0].(*parse.StringNode); ok && len(args) == 1 {
		text := c.Text
		return func(*Page) (string, contentType, error) { return text, ctPlain, nil }, true
	}
	if len(args) == 1 {
		get, ok := field(args[0])
		if !ok {
			return nil, false
		}
		return func(p *Page) (string, contentType, error) {
			v, err := get(p)
			if err != nil {
				return "", 0, err
			}
			return stringify(v)
		}, true
	}
	id, ok := args[0].(*parse.IdentifierNode)
	if !ok {
		return nil, false
	}
	switch {
	case id.Ident == "tr" && len(args) == 3:
		return trValue(args[1], args[2])
	case id.Ident == "printf" && len(args) == 3:
		return printfValue(args[1], args[2])
	}
	return nil, false
}

// trValue compiles tr .T key: the message of the language (Render has
// set .T) or the key itself.
func trValue(msgs, key parse.Node) (valueFn, bool) {
	if f, ok := msgs.(*parse.FieldNode); !ok || len(f.Ident) != 1 || f.Ident[0] != "T" {
		return nil, false
	}
	get, ok := field(key)
	if !ok {
		return nil, false
	}
	return func(p *Page) (string, contentType, error) {
		k, err := get(p)
		if err != nil {
			return "", 0, err
		}
		if k.Type() != stringType {
			return "", 0, errFallback
		}
		return tr(p.T, k.String()), ctPlain, nil
	}, true
}

// printfValue compiles printf FORMAT ARG, FORMAT a constant or (tr .T key).
func printfValue(format, arg parse.Node) (valueFn, bool) {
	var fmtOf valueFn
	switch f := format.(type) {
	case *parse.StringNode:
		text := f.Text
		fmtOf = func(*Page) (string, contentType, error) { return text, ctPlain, nil }
	case *parse.PipeNode:
		if len(f.Decl) != 0 || len(f.Cmds) != 1 || len(f.Cmds[0].Args) != 3 {
			return nil, false
		}
		if id, ok := f.Cmds[0].Args[0].(*parse.IdentifierNode); !ok || id.Ident != "tr" {
			return nil, false
		}
		var ok bool
		if fmtOf, ok = trValue(f.Cmds[0].Args[1], f.Cmds[0].Args[2]); !ok {
			return nil, false
		}
	default:
		return nil, false
	}
	get, ok := field(arg)
	if !ok {
		return nil, false
	}
	return func(p *Page) (string, contentType, error) {
		f, _, err := fmtOf(p)
		if err != nil {
			return "", 0, err
		}
		v, err := get(p)
		if err != nil {
			return "", 0, err
		}
		if !v.IsValid() || !v.CanInterface() {
			return "", 0, errFallback
		}
		return fmt.Sprintf(f, v.Interface()), ctPlain, nil
	}, true
}

// field compiles a field chain on dot (the Page), such as .Data.CSRF or
// .LangURLs.en.
func field(n parse.Node) (func(*Page) (reflect.Value, error), bool) {
	f, ok := n.(*parse.FieldNode)
	if !ok || len(f.Ident) == 0 {
		return nil, false
	}
	idents := f.Ident
	// Each name as a map key, made here rather than at every render.
	keys := make([]reflect.Value, len(idents))
	for i, id := range idents {
		keys[i] = reflect.ValueOf(id)
	}
	// What each name resolved to on the type last seen there: a page is
	// rendered with the same few types over and over, and a lookup by
	// name on every render was most of a render's reflection.
	steps := make([]atomic.Pointer[fieldStep], len(idents))
	return func(p *Page) (reflect.Value, error) {
		v := reflect.ValueOf(p).Elem()
		for i, id := range idents {
			v = indirect(v)
			if !v.IsValid() {
				return reflect.Value{}, errFallback
			}
			st := steps[i].Load()
			if st == nil || st.typ != v.Type() {
				st = resolveStep(v.Type(), id)
				steps[i].Store(st)
			}
			switch {
			case st.method >= 0:
				v = v.Method(st.method).Call(nil)[0]
				continue
			case st.ptrMethod >= 0 && v.CanAddr():
				v = v.Addr().Method(st.ptrMethod).Call(nil)[0]
				continue
			}
			switch v.Kind() {
			case reflect.Struct:
				if st.index == nil {
					return reflect.Value{}, errFallback
				}
				var err error
				if v, err = v.FieldByIndexErr(st.index); err != nil {
					// A nil embedded pointer on the way.
					return reflect.Value{}, errFallback
				}
			case reflect.Map:
				if v.Type().Key() != stringType {
					return reflect.Value{}, errFallback
				}
				e := v.MapIndex(keys[i])
				if !e.IsValid() {
					// text/template prints "<no value>" here.
					return reflect.Value{}, errFallback
				}
				v = e
			default:
				return reflect.Value{}, errFallback
			}
		}
		return indirectInterface(v), nil
	}, true
}

// fieldStep is what one name of a field chain is on a type: a method
// that takes nothing and returns one value, as text/template calls it (a
// method wins over a field; Go allows no struct both), on the value or,
// when the value is addressable, on its pointer; else a struct field.
type fieldStep struct {
	typ       reflect.Type
	method    int   // index in typ's method set, or -1
	ptrMethod int   // index in *typ's method set, or -1
	index     []int // the exported struct field's index; nil when none
}

func resolveStep(t reflect.Type, name string) *fieldStep {
	st := &fieldStep{typ: t, method: -1, ptrMethod: -1}
	callable := func(m reflect.Method) bool { return m.Type.NumIn() == 1 && m.Type.NumOut() == 1 }
	if m, ok := t.MethodByName(name); ok {
		if callable(m) {
			st.method = m.Index
		}
	} else if m, ok := reflect.PointerTo(t).MethodByName(name); ok && callable(m) {
		st.ptrMethod = m.Index
	}
	if t.Kind() == reflect.Struct {
		if sf, ok := t.FieldByName(name); ok && sf.IsExported() {
			st.index = sf.Index
		}
	}
	return st
}

// indirect follows pointers and interfaces to the value a field lookup
// applies to.
func indirect(v reflect.Value) reflect.Value {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

// indirectInterface is the value an interface holds (what text/template
// tests and prints).
func indirectInterface(v reflect.Value) reflect.Value {
	if v.Kind() == reflect.Interface && !v.IsNil() {
		return v.Elem()
	}
	return v
}

// truth is text/template's truth of a value; ok is false for values it
// does not judge.
func truth(v reflect.Value) (t, ok bool) {
	if !v.IsValid() {
		return false, true
	}
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() > 0, true
	case reflect.Bool:
		return v.Bool(), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() != 0, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() != 0, true
	case reflect.Pointer, reflect.Interface, reflect.Chan, reflect.Func:
		return !v.IsNil(), true
	case reflect.Struct:
		return true, true
	}
	return false, false
}

// contentType is html/template's kind of a value: plain text, or one of
// its typed strings.
type contentType int

const (
	ctPlain contentType = iota + 1
	ctHTML
	ctURL
)

var (
	stringType = reflect.TypeFor[string]()
	htmlType   = reflect.TypeFor[template.HTML]()
	urlType    = reflect.TypeFor[template.URL]()
)

// stringify is html/template's reading of a single value: a string is
// plain text, template.HTML and template.URL keep their kind, numbers and
// booleans print as fmt prints them; anything else falls back.
func stringify(v reflect.Value) (string, contentType, error) {
	if !v.IsValid() {
		return "", 0, errFallback
	}
	switch v.Type() {
	case stringType:
		return v.String(), ctPlain, nil
	case htmlType:
		return v.String(), ctHTML, nil
	case urlType:
		return v.String(), ctURL, nil
	}
	switch v.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprint(v.Interface()), ctPlain, nil
	}
	return "", 0, errFallback
}

// An escaper is one of html/template's escaping functions for a value of
// content type ct.
type escaper func(s string, ct contentType) (string, error)

// escapers are the html/template escapers compile knows, by the name
// html/template gives them in an escaped tree.
var escapers = map[string]escaper{
	"_html_template_htmlescaper":   escapeHTML,
	"_html_template_attrescaper":   escapeAttr,
	"_html_template_urlfilter":     filterURL,
	"_html_template_urlnormalizer": normalizeURL,
	"_html_template_rcdataescaper": escapeAttr,
}

// htmlEscapes are the characters html/template's HTML text and quoted
// attribute escapers replace, and with what.
var htmlEscapes = strings.NewReplacer(
	"\x00", "\uFFFD",
	`"`, "&#34;",
	"&", "&amp;",
	"'", "&#39;",
	"+", "&#43;",
	"<", "&lt;",
	">", "&gt;",
)

// escapeHTML is the escaper of HTML text: typed HTML goes in unchanged.
func escapeHTML(s string, ct contentType) (string, error) {
	if ct == ctHTML {
		return s, nil
	}
	return htmlEscapes.Replace(s), nil
}

// escapeAttr is the escaper of a quoted attribute value and of RCDATA
// (the text of <title> and <textarea>). Typed HTML (whose tags
// html/template strips in an attribute, and whose entities it keeps in
// RCDATA) falls back.
func escapeAttr(s string, ct contentType) (string, error) {
	if ct == ctHTML {
		return "", errFallback
	}
	return htmlEscapes.Replace(s), nil
}

// filterURL lets a URL through unless it names a scheme other than http,
// https and mailto, which it replaces with html/template's "#ZgotmplZ".
func filterURL(s string, ct contentType) (string, error) {
	if ct == ctURL {
		return s, nil
	}
	if scheme, _, ok := strings.Cut(s, ":"); ok && !strings.Contains(scheme, "/") {
		if !strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https") && !strings.EqualFold(scheme, "mailto") {
			return "#ZgotmplZ", nil
		}
	}
	return s, nil
}

// normalizeURL percent-encodes the bytes of s that are neither unreserved
// nor reserved in RFC 3986 (keeping valid %XX escapes), as html/template
// normalises a URL in an attribute.
func normalizeURL(s string, _ contentType) (string, error) {
	i := 0
	for i < len(s) && urlKeeps(s, i) {
		i++
	}
	if i == len(s) {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		if urlKeeps(s, i) {
			b.WriteByte(s[i])
			continue
		}
		const hex = "0123456789abcdef"
		b.WriteByte('%')
		b.WriteByte(hex[s[i]>>4])
		b.WriteByte(hex[s[i]&15])
	}
	return b.String(), nil
}

// urlKeeps reports whether normalizeURL keeps s[i] as it is.
func urlKeeps(s string, i int) bool {
	c := s[i]
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	case strings.IndexByte("-._~!#$&*+,/:;=?@[]", c) >= 0:
		return true
	case c == '%':
		return i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2])
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
