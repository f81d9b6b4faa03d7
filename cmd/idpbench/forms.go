package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	xhtml "golang.org/x/net/html"
)

// form is one HTML form with the values a browser would send.
type form struct {
	action   *url.URL
	method   string
	values   url.Values
	password string // name of the password field, "" if none
	text     string // name of the first text/email field
}

// forms returns the forms of body, an HTML page fetched from base, with
// their inputs (the login and auto-POST pages need nothing else).
//
// It reads the page as an HTML tokenizer does (the data state of the
// WHATWG tokenization rules), only faster: text between tags is skipped
// with one search for the next '<'; comments, doctypes and bogus comments
// end where the rules end them; the content of raw-text elements (script,
// style, textarea, title, noscript, ...) is never taken for markup; tag
// and attribute names are case-insensitive; attribute values may be
// double-, single- or unquoted and have their character references
// decoded; of a repeated attribute the first counts, and a form inside a
// form is ignored, as a browser's parser does. Only the attributes of form
// and input tags are decoded. TestFormsAgainstTokenizer holds it to
// golang.org/x/net/html on real pages and on tricky markup.
func forms(body []byte, base *url.URL) []form {
	var out []form
	var cur *form
	for i := 0; i < len(body); {
		lt := bytes.IndexByte(body[i:], '<')
		if lt < 0 {
			break
		}
		i += lt + 1
		if i >= len(body) {
			break
		}
		switch c := body[i]; {
		case c == '!':
			i = skipMarkupDecl(body, i+1)
		case c == '?':
			i = skipPast(body, i, '>')
		case c == '/':
			if i+1 >= len(body) || !isASCIILetter(body[i+1]) {
				// "</>" is dropped; "</" + non-letter is a bogus comment.
				i = skipPast(body, i, '>')
				continue
			}
			name, j := tagName(body, i+1)
			if i = eachAttr(body, j, nil); i < 0 {
				return out // a tag the page ends in is no tag
			}
			if cur != nil && bytes.EqualFold(name, []byte("form")) {
				out = append(out, *cur)
				cur = nil
			}
		case isASCIILetter(c):
			name, j := tagName(body, i)
			switch {
			case bytes.EqualFold(name, []byte("form")):
				var action, method []byte
				haveAction, haveMethod := false, false
				j = eachAttr(body, j, func(k, v []byte) {
					switch {
					case !haveAction && bytes.EqualFold(k, []byte("action")):
						action, haveAction = v, true
					case !haveMethod && bytes.EqualFold(k, []byte("method")):
						method, haveMethod = v, true
					}
				})
				if j < 0 {
					return out
				}
				if cur == nil {
					cur = newForm(base, attrValue(action), attrValue(method))
				}
			case bytes.EqualFold(name, []byte("input")):
				var n, typ, val []byte
				haveN, haveT, haveV := false, false, false
				j = eachAttr(body, j, func(k, v []byte) {
					switch {
					case !haveN && bytes.EqualFold(k, []byte("name")):
						n, haveN = v, true
					case !haveT && bytes.EqualFold(k, []byte("type")):
						typ, haveT = v, true
					case !haveV && bytes.EqualFold(k, []byte("value")):
						val, haveV = v, true
					}
				})
				if j < 0 {
					return out
				}
				if cur != nil {
					if name := attrValue(n); name != "" {
						cur.input(name, attrValue(typ), val)
					}
				}
			default:
				if j = eachAttr(body, j, nil); j < 0 {
					return out
				}
				if raw := rawTextEnd(body, j, name); raw >= 0 {
					j = raw
				}
			}
			i = j
		}
	}
	return out
}

func newForm(base *url.URL, action, method string) *form {
	u, err := base.Parse(action)
	if err != nil {
		u = base
	}
	method = strings.ToUpper(method)
	if method == "" {
		method = http.MethodGet
	}
	return &form{action: u, method: method, values: url.Values{}}
}

// input adds the input named name, of type typ with the value source val, as
// a browser submits it (text fields are remembered to be filled in).
func (f *form) input(name, typ string, val []byte) {
	switch strings.ToLower(typ) {
	case "password":
		f.password = name
	case "text", "email", "":
		if f.text == "" {
			f.text = name
		}
	case "submit", "button", "checkbox", "radio":
		return
	}
	f.values.Set(name, attrValue(val))
}

// attrValue is the value of an attribute from its source v (with its
// quotes, if it had any; nil when the attribute had no value). A value
// without character references or NULs (every value of our own pages) is
// its source; any other is decoded by the HTML tokenizer itself, in the
// same quoting, for the attribute rules.
func attrValue(v []byte) string {
	raw := v
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') {
		raw = v[1 : len(v)-1]
	}
	if bytes.IndexByte(raw, '&') < 0 && bytes.IndexByte(raw, 0) < 0 {
		return string(raw)
	}
	return tokenizerAttrValue(v)
}

// tokenizerAttrValue decodes the attribute value source v with
// golang.org/x/net/html's tokenizer.
func tokenizerAttrValue(v []byte) string {
	z := xhtml.NewTokenizer(bytes.NewReader(append(append([]byte("<a v="), v...), '>')))
	if z.Next() == xhtml.StartTagToken {
		if _, hasAttr := z.TagName(); hasAttr {
			_, val, _ := z.TagAttr()
			return string(val)
		}
	}
	return string(v)
}

// tagName reads the tag name starting at i; it returns the name and the
// index after it.
func tagName(b []byte, i int) ([]byte, int) {
	j := i
	for j < len(b) && !isSpace(b[j]) && b[j] != '/' && b[j] != '>' {
		j++
	}
	return b[i:j], j
}

// eachAttr reads the attributes of a tag from i to its '>', calling f (when
// not nil) with each name and value source (see attrValue), and returns the index after the
// '>', or -1 when the page ends first.
func eachAttr(b []byte, i int, f func(k, v []byte)) int {
	for {
		for i < len(b) && (isSpace(b[i]) || b[i] == '/') {
			i++
		}
		if i >= len(b) {
			return -1
		}
		if b[i] == '>' {
			return i + 1
		}
		// The name: a leading '=' belongs to it.
		k0 := i
		i++
		for i < len(b) && !isSpace(b[i]) && b[i] != '/' && b[i] != '>' && b[i] != '=' {
			i++
		}
		k := b[k0:i]
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		var v []byte
		if i < len(b) && b[i] == '=' {
			i++
			for i < len(b) && isSpace(b[i]) {
				i++
			}
			switch {
			case i >= len(b):
			case b[i] == '"' || b[i] == '\'':
				end := bytes.IndexByte(b[i+1:], b[i])
				if end < 0 {
					return -1
				}
				v = b[i : i+end+2]
				i += end + 2
			default:
				v0 := i
				for i < len(b) && !isSpace(b[i]) && b[i] != '>' {
					i++
				}
				v = b[v0:i]
			}
		}
		if f != nil {
			f(k, v)
		}
	}
}

// rawElements are the elements whose content the tokenizer reads as text
// up to their end tag.
var rawElements = [][]byte{[]byte("script"), []byte("style"), []byte("textarea"), []byte("title"),
	[]byte("xmp"), []byte("iframe"), []byte("noembed"), []byte("noframes"), []byte("noscript")}

// rawTextEnd returns, when name is a raw-text element whose content starts
// at i, the index after its end tag (len(b) if none); -1 otherwise.
func rawTextEnd(b []byte, i int, name []byte) int {
	if bytes.EqualFold(name, []byte("plaintext")) {
		return len(b)
	}
	raw := false
	for _, r := range rawElements {
		if bytes.EqualFold(name, r) {
			raw = true
			break
		}
	}
	if !raw {
		return -1
	}
	for {
		k := bytes.Index(b[i:], []byte("</"))
		if k < 0 {
			return len(b)
		}
		i += k + 2
		if e := i + len(name); e <= len(b) && bytes.EqualFold(b[i:e], name) &&
			(e == len(b) || isSpace(b[e]) || b[e] == '/' || b[e] == '>') {
			if e = eachAttr(b, e, nil); e < 0 {
				return len(b)
			}
			return e
		}
	}
}

// skipMarkupDecl skips what follows "<!" at i: a comment ("<!--" to
// "-->", or the empty "<!-->" and "<!--->"), else a doctype or bogus
// comment up to '>'.
func skipMarkupDecl(b []byte, i int) int {
	if !bytes.HasPrefix(b[i:], []byte("--")) {
		return skipPast(b, i, '>')
	}
	i += 2
	switch {
	case bytes.HasPrefix(b[i:], []byte(">")):
		return i + 1
	case bytes.HasPrefix(b[i:], []byte("->")):
		return i + 2
	}
	for {
		k := bytes.Index(b[i:], []byte("--"))
		if k < 0 {
			return len(b)
		}
		i += k + 2
		// "--!>" also ends a comment; extra dashes may come first.
		for i < len(b) && b[i] == '-' {
			i++
		}
		if bytes.HasPrefix(b[i:], []byte(">")) {
			return i + 1
		}
		if bytes.HasPrefix(b[i:], []byte("!>")) {
			return i + 2
		}
	}
}

// skipPast returns the index after the next c from i (len(b) if none).
func skipPast(b []byte, i int, c byte) int {
	k := bytes.IndexByte(b[i:], c)
	if k < 0 {
		return len(b)
	}
	return i + k + 1
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

func isASCIILetter(c byte) bool {
	return 'a' <= c|0x20 && c|0x20 <= 'z'
}

// loginForm finds the form with a password field and fills it in.
func loginForm(p page, username, password string) (form, error) {
	for _, f := range forms(p.body, p.url) {
		if f.password == "" || f.text == "" {
			continue
		}
		f.values.Set(f.text, username)
		f.values.Set(f.password, password)
		return f, nil
	}
	return form{}, fmt.Errorf("%w: no login form on %s (HTTP %d)", errJourney, p.url.Path, p.status)
}
