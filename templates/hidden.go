package templates

import (
	"encoding/base64"
	"html"
	"html/template"
	"unsafe"
)

// HiddenBase64Input returns the form field <input type="hidden" name=name
// value=Base64(raw)> as HTML for a page template, and the Base64 value
// (which shares its memory). Base64's alphabet (A-Z a-z 0-9 + / =) needs
// no escaping in a double-quoted attribute value, so a SAMLResponse of
// 10 KB and more is copied into the page as it is instead of going
// through html/template's attribute escaper rune by rune (which also
// spelled each + as &#43;).
//
// The memory comes from a pool: call release once the page is rendered
// (the page's buffer holds its own copy), and keep neither string past it.
// Not calling release only leaves the memory to the garbage collector.
// A SAML login made 8 KB of garbage here per login on average, about a
// fourteenth of all it allocated.
func HiddenBase64Input(name string, raw []byte) (field template.HTML, value string, release func()) {
	const suffix = `">`
	prefix := `<input type="hidden" name="` + html.EscapeString(name) + `" value="`
	n := len(prefix) + base64.StdEncoding.EncodedLen(len(raw)) + len(suffix)
	// The field is built in the free capacity of a page buffer (GetBuffer)
	// and is not written again until release: the strings share its
	// memory (as strings.Builder does) rather than copying 10 KB and more.
	buf := GetBuffer()
	buf.Grow(n)
	b := buf.AvailableBuffer()
	b = append(b, prefix...)
	b = base64.StdEncoding.AppendEncode(b, raw)
	b = append(b, suffix...)
	s := unsafe.String(unsafe.SliceData(b), len(b))
	return template.HTML(s), s[len(prefix) : len(s)-len(suffix)], func() { PutBuffer(buf) }
}
