package saml

import (
	"time"
	"unicode/utf8"
)

// xmlWriter appends the fixed-shape XML of our Responses to a byte slice,
// in one of two forms:
//
//   - canonical: exclusive XML canonicalization (xml-exc-c14n, no comments,
//     no inclusive prefix list) of the element being written. Callers
//     write namespace declarations and attributes in canonical order (the
//     shape is fixed, so the order is too) and only the namespace
//     declarations the canonical form renders; the writer supplies the
//     C14N escaping and explicit end tags. These bytes are digested.
//   - output: what is sent to the SP. Its escaping and "<x/>" empty
//     elements are those of the etree serialiser the Responses were once
//     built with, so the output stays byte for byte what SPs received
//     before (the differential test holds the two together), except where
//     that serialiser produced a signature no verifier accepts: a CR in
//     text and a TAB, LF or CR in an attribute value, which a parser
//     normalises away before canonicalising. Those are written as
//     character references, which survive parsing, so the digest holds.
//
// In both forms a byte sequence that is not valid UTF-8, and a character
// XML 1.0 does not allow (most C0 controls, U+FFFE, U+FFFF), is written as
// U+FFFD, one per invalid byte, as before: a directory value can never
// make the XML ill-formed.
type xmlWriter struct {
	b         []byte
	canonical bool
}

// timeLayout is how SAML times are written (xs:dateTime, milliseconds with
// trailing zeros dropped, UTC as "Z"); callers pass UTC times.
const timeLayout = "2006-01-02T15:04:05.999Z07:00"

// open writes "<tag"; attributes follow, then gt or empty.
func (w *xmlWriter) open(tag string) {
	w.b = append(w.b, '<')
	w.b = append(w.b, tag...)
}

// attr writes ` name="value"` with the value escaped.
func (w *xmlWriter) attr(name, value string) {
	w.b = append(w.b, ' ')
	w.b = append(w.b, name...)
	w.b = append(w.b, '=', '"')
	w.escape(value, true)
	w.b = append(w.b, '"')
}

// attrTime writes a time attribute (its text never needs escaping).
func (w *xmlWriter) attrTime(name string, t time.Time) {
	w.b = append(w.b, ' ')
	w.b = append(w.b, name...)
	w.b = append(w.b, '=', '"')
	w.b = t.AppendFormat(w.b, timeLayout)
	w.b = append(w.b, '"')
}

// gt ends a start tag whose element has content.
func (w *xmlWriter) gt() { w.b = append(w.b, '>') }

// end writes the end tag "</tag>".
func (w *xmlWriter) end(tag string) {
	w.b = append(w.b, '<', '/')
	w.b = append(w.b, tag...)
	w.b = append(w.b, '>')
}

// empty ends a start tag whose element has no content: "/>" in the output
// form, an explicit end tag in the canonical form.
func (w *xmlWriter) empty(tag string) {
	if w.canonical {
		w.b = append(w.b, '>')
		w.end(tag)
		return
	}
	w.b = append(w.b, '/', '>')
}

// textEnd ends a start tag with text content and the end tag; an empty
// text makes an empty element.
func (w *xmlWriter) textEnd(tag, text string) {
	if text == "" {
		w.empty(tag)
		return
	}
	w.gt()
	w.escape(text, false)
	w.end(tag)
}

// raw appends bytes that are already in the writer's form.
func (w *xmlWriter) raw(s string) { w.b = append(w.b, s...) }

// plainByte marks the bytes that every form writes as they are; escape
// skips runs of them without looking further.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	for _, c := range "&<>\"'" {
		t[c] = false
	}
	return t
}()

// escape appends s as attribute value (inAttr) or text, escaped for the
// writer's form; see the type comment.
func (w *xmlWriter) escape(s string, inAttr bool) {
	last := 0
	for i := 0; i < len(s); {
		if plainByte[s[i]] {
			i++
			continue
		}
		c := s[i]
		var esc string
		width := 1
		if c < utf8.RuneSelf {
			switch {
			case c == '&':
				esc = "&amp;"
			case c == '<':
				esc = "&lt;"
			case c == '>' && !(w.canonical && inAttr):
				esc = "&gt;"
			case c == '"' && !(w.canonical && !inAttr):
				esc = "&quot;"
			case c == '\'' && !w.canonical:
				esc = "&apos;"
			case c == '\r':
				esc = "&#xD;"
			case c == '\n' && inAttr:
				esc = "&#xA;"
			case c == '\t' && inAttr:
				esc = "&#x9;"
			case c < 0x20 && c != '\t' && c != '\n':
				esc = "\uFFFD"
			default:
				i++
				continue
			}
		} else {
			var r rune
			r, width = utf8.DecodeRuneInString(s[i:])
			if (r != utf8.RuneError || width > 1) && r != 0xFFFE && r != 0xFFFF {
				i += width
				continue
			}
			esc = "\uFFFD"
		}
		w.b = append(w.b, s[last:i]...)
		w.b = append(w.b, esc...)
		i += width
		last = i
	}
	w.b = append(w.b, s[last:]...)
}
