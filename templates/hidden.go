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
func HiddenBase64Input(name string, raw []byte) (template.HTML, string) {
	const suffix = `">`
	prefix := `<input type="hidden" name="` + html.EscapeString(name) + `" value="`
	b := make([]byte, 0, len(prefix)+base64.StdEncoding.EncodedLen(len(raw))+len(suffix))
	b = append(b, prefix...)
	b = base64.StdEncoding.AppendEncode(b, raw)
	b = append(b, suffix...)
	// b is complete and never written again: the string shares its memory
	// (as strings.Builder does) rather than copying 10 KB and more.
	s := unsafe.String(unsafe.SliceData(b), len(b))
	return template.HTML(s), s[len(prefix) : len(s)-len(suffix)]
}
