package saml

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	crewjam "github.com/crewjam/saml"
	xrv "github.com/mattermost/xml-roundtrip-validator"
)

// Size limits. A DEFLATE bomb is cut off after maxXMLBytes+1 inflated
// bytes, so it costs at most that much memory and a few milliseconds.
const (
	maxXMLBytes      = 256 << 10 // inflated / decoded AuthnRequest XML
	maxQueryBytes    = 64 << 10  // raw query string of the redirect binding
	maxBodyBytes     = 512 << 10 // form body of the POST binding
	maxRelayState    = 4 << 10   // RelayState, in bytes
	maxMetadataBytes = 1 << 20   // SP metadata file
)

// Binding is how the AuthnRequest arrived.
type Binding int

// Bindings.
const (
	BindingRedirect Binding = iota + 1 // HTTP-Redirect: DEFLATE + Base64 in the query
	BindingPOST                        // HTTP-POST: Base64 in a form body
)

// Decoding errors (wrapped).
var (
	ErrMalformed = errors.New("saml: malformed request")
	ErrTooLarge  = errors.New("saml: request too large")
	ErrDTD       = errors.New("saml: XML with a DTD or entity declaration")
)

// inflaters are reusable DEFLATE readers (each holds a 32 KiB window, the
// largest allocation of a redirect-binding request); Reset makes one as
// good as new.
var inflaters = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}

// DecodeRequest turns a SAMLRequest parameter value (already URL-decoded)
// into AuthnRequest XML bytes: Base64, then, for the redirect binding, a
// raw DEFLATE stream. The inflated size is capped at 256 KiB.
func DecodeRequest(b Binding, value string) ([]byte, error) {
	if b == BindingPOST {
		// Some SPs wrap Base64 at 76 columns in POST bodies.
		value = strings.NewReplacer("\r", "", "\n", "").Replace(value)
	}
	if value == "" {
		return nil, fmt.Errorf("%w: empty SAMLRequest", ErrMalformed)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(value)
	if err != nil {
		return nil, fmt.Errorf("%w: SAMLRequest is not Base64", ErrMalformed)
	}
	switch b {
	case BindingPOST:
		if len(raw) > maxXMLBytes {
			return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(raw))
		}
		return raw, nil
	case BindingRedirect:
		fr := inflaters.Get().(io.ReadCloser)
		defer inflaters.Put(fr)
		if err := fr.(flate.Resetter).Reset(bytes.NewReader(raw), nil); err != nil {
			return nil, fmt.Errorf("%w: SAMLRequest is not DEFLATE data", ErrMalformed)
		}
		out, err := io.ReadAll(io.LimitReader(fr, maxXMLBytes+1))
		if err != nil {
			return nil, fmt.Errorf("%w: SAMLRequest is not DEFLATE data", ErrMalformed)
		}
		if len(out) > maxXMLBytes {
			return nil, fmt.Errorf("%w: inflates past %d bytes", ErrTooLarge, maxXMLBytes)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: unknown binding", ErrMalformed)
}

// checkXML refuses XML that carries a DTD, entity declarations or other
// directives, and XML whose namespaces would not survive a round trip (the
// tricks that make one parser see different elements than another).
func checkXML(doc []byte) error {
	g, err := newXMLGuard(doc)
	if err != nil {
		return err
	}
	return g.finish()
}

// xmlGuard is checkXML's strict pass as an xml.TokenReader, so that
// ParseAuthnRequest decodes the request from the very tokens it checks, in
// one pass over the document. Each raw token is also put through the
// round-trip validator's per-token check (what its Validate does in a
// second, non-strict pass of its own; a document the strict decoder
// accepts yields the same tokens in both).
type xmlGuard struct {
	d        *xml.Decoder
	seenRoot bool
	// fault ends the pass (not XML, a DTD, a processing instruction).
	fault error
	// roundTrip is reported only when the document has no other fault,
	// as when the validator ran after the strict pass.
	roundTrip error
	// learned are the keys of tokens that passed the round-trip check and
	// are not remembered yet; learnRoundTrips adds them once the request
	// has passed validation (at most roundTripLearnMax per request).
	learned []string
}

func newXMLGuard(doc []byte) (*xmlGuard, error) {
	if !isUTF8Compatible(doc) {
		return nil, fmt.Errorf("%w: XML is not UTF-8", ErrMalformed)
	}
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	return &xmlGuard{d: d}, nil
}

// Token returns the next raw token once it passed the checks.
func (g *xmlGuard) Token() (xml.Token, error) {
	if g.fault != nil {
		return nil, g.fault
	}
	tok, err := g.d.RawToken()
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		g.fault = fmt.Errorf("%w: XML: %v", ErrMalformed, err)
		return nil, g.fault
	}
	switch t := tok.(type) {
	case xml.Directive:
		g.fault = ErrDTD
		return nil, g.fault
	case xml.StartElement:
		g.seenRoot = true
	case xml.ProcInst:
		if t.Target != "xml" {
			g.fault = fmt.Errorf("%w: XML processing instruction", ErrMalformed)
			return nil, g.fault
		}
	}
	if g.roundTrip == nil && mayNotRoundTrip(tok) {
		g.roundTrip = g.checkRoundTrip(tok, worthRemembering(tok))
	}
	return tok, nil
}

// mayNotRoundTrip says which tokens the round-trip check can refuse once
// the strict decoder accepted them. Non-empty character data cannot fail:
// the strict decoder refuses the characters that re-encoding would
// replace, and every other character is escaped and read back as itself
// (empty character data, from an empty CDATA section, re-encodes as
// nothing and is refused, so it is still checked). An end tag
// cannot fail on its own: its check compares only the local name after
// re-encoding, the strict decoder made it the same name as its start
// tag's, and the start tag's check compares that local name too, earlier.
// Skipping the two (most of a request's tokens) halves the check's cost:
// it makes a new encoder and decoder per token.
func mayNotRoundTrip(tok xml.Token) bool {
	switch t := tok.(type) {
	case xml.CharData:
		return len(t) == 0
	case xml.EndElement:
		return false
	}
	return true
}

// roundTripPassed remembers tokens that passed the round-trip check, so
// that a token met again is not checked again: the check is a function of
// the token alone, and an SP sends the same tags in every request. A
// token is remembered by every name and every value that could change the
// check's outcome; a plain attribute value (plainValue) cannot, so it is
// left out of the key, and an SP's root element, whose ID and
// IssueInstant differ in every request, is met again as one key. The
// check builds an encoder and a decoder per token (4.5 KB, and some 10 us
// for the root element of every request). Only passes are kept (a refusal
// is rare, and its error names the token), small ones only, and only from
// requests that passed validation (an unknown Issuer's request teaches it
// nothing), at most roundTripLearnMax from one request. It holds
// roundTripKeep; a new token then replaces an arbitrary one, so that
// requests made up to fill it (an unsigned request from a known SP can
// carry any number of extra elements) churn it rather than shut it to the
// real SPs' tags for good.
var roundTripPassed struct {
	sync.RWMutex
	m map[string]struct{}
}

const (
	roundTripKeep     = 256
	roundTripLearnMax = 16
	roundTripKeyMax   = 1024
	roundTripKeyInit  = 256
)

// checkRoundTrip is the round-trip validator's check of tok, looked up
// in roundTripPassed if remember is set; a pass not yet remembered is
// noted in g.learned.
func (g *xmlGuard) checkRoundTrip(tok xml.Token, remember bool) error {
	if !remember {
		return xrv.CheckToken(tok)
	}
	var buf [roundTripKeyInit]byte
	key, ok := tokenKey(buf[:0], tok)
	if ok {
		roundTripPassed.RLock()
		_, hit := roundTripPassed.m[string(key)]
		roundTripPassed.RUnlock()
		if hit {
			return nil
		}
	}
	err := xrv.CheckToken(tok)
	if err == nil && ok && len(g.learned) < roundTripLearnMax && !slices.Contains(g.learned, string(key)) {
		g.learned = append(g.learned, string(key))
	}
	return err
}

// learnRoundTrips adds the keys a validated request's tokens passed
// with to roundTripPassed.
func learnRoundTrips(keys []string) {
	if len(keys) == 0 {
		return
	}
	roundTripPassed.Lock()
	defer roundTripPassed.Unlock()
	if roundTripPassed.m == nil {
		roundTripPassed.m = make(map[string]struct{}, roundTripKeep)
	}
	for _, k := range keys {
		if len(roundTripPassed.m) >= roundTripKeep {
			for old := range roundTripPassed.m { // an arbitrary one
				delete(roundTripPassed.m, old)
				break
			}
		}
		roundTripPassed.m[k] = struct{}{}
	}
}

// worthRemembering leaves out start tags with an attribute that differs
// from one request to the next (an ID, a reference to one, a time) and
// whose value is not plain, so that it would be part of the key and only
// fill the memory. Plain ones are not in the key (tokenKey).
func worthRemembering(tok xml.Token) bool {
	t, ok := tok.(xml.StartElement)
	if !ok {
		return true
	}
	for _, a := range t.Attr {
		switch a.Name.Local {
		case "ID", "URI", "IssueInstant", "NotBefore", "NotOnOrAfter":
			if !plainAttr(a) {
				return false
			}
		}
	}
	return true
}

// plainAttr reports whether a's value can be left out of a token's key:
// it is not a namespace declaration (the round-trip check maps prefixes
// through those values) and its value is plain.
func plainAttr(a xml.Attr) bool {
	if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
		return false
	}
	return plainValue(a.Value)
}

// plainValue reports whether encoding/xml writes v as itself and reads it
// back as itself: printable ASCII without the five characters its encoder
// escapes. In the round-trip check such a value is compared with itself
// and nothing else depends on it (prefixes come from names and from
// namespace declarations), so the check's outcome is the same whatever
// the value: the ID "_a1b2" and the time "2026-11-22T08:55:00Z" are, and
// so is most of a URL.
func plainValue(v string) bool {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '&', c == '\'', c == '<', c == '>':
			return false
		}
	}
	return true
}

// tokenKey appends to b every part of a start tag or processing
// instruction that the round-trip check depends on, each after its
// length, so that two tokens have the same key only if the check must
// treat them alike: a plain attribute value (plainAttr) is marked as such
// and left out. ok is false for other tokens and for keys over
// roundTripKeyMax bytes.
func tokenKey(b []byte, tok xml.Token) (key []byte, ok bool) {
	switch t := tok.(type) {
	case xml.StartElement:
		b = append(b, '<')
		b = appendPart(appendPart(b, t.Name.Space), t.Name.Local)
		for _, a := range t.Attr {
			b = appendPart(appendPart(b, a.Name.Space), a.Name.Local)
			if plainAttr(a) {
				b = append(b, 'p')
				continue
			}
			b = appendPart(append(b, 'v'), a.Value)
		}
	case xml.ProcInst:
		b = append(b, '?')
		b = appendPart(appendPart(b, t.Target), t.Inst)
	default:
		return nil, false
	}
	return b, len(b) <= roundTripKeyMax
}

// appendPart appends s after its length.
func appendPart[T string | []byte](b []byte, s T) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// finish reads the rest of the document and returns its first fault.
func (g *xmlGuard) finish() error {
	for g.fault == nil {
		if _, err := g.Token(); err == io.EOF {
			break
		}
	}
	if g.fault != nil {
		return g.fault
	}
	if !g.seenRoot {
		return fmt.Errorf("%w: no XML element", ErrMalformed)
	}
	if g.roundTrip != nil {
		return fmt.Errorf("%w: XML does not round-trip: %v", ErrMalformed, g.roundTrip)
	}
	return nil
}

// isUTF8Compatible refuses UTF-16 and other byte-order-marked encodings;
// the XML declaration's encoding attribute is checked by encoding/xml,
// which only accepts UTF-8 without a CharsetReader.
func isUTF8Compatible(doc []byte) bool {
	return !bytes.HasPrefix(doc, []byte{0xfe, 0xff}) && !bytes.HasPrefix(doc, []byte{0xff, 0xfe})
}

// ParseAuthnRequest checks XML (no DTD, round-trips) and decodes the
// AuthnRequest, in one pass: the decoder reads the checked tokens (and
// resolves their namespaces and matches end tags itself). A fault of the
// check is reported before a decoding error, as if the check ran first.
// It does not validate the request's content.
func ParseAuthnRequest(doc []byte) (*crewjam.AuthnRequest, error) {
	req, _, err := parseAuthnRequest(doc)
	return req, err
}

// parseAuthnRequest is ParseAuthnRequest that also returns the keys of
// the tokens whose round-trip checks learnRoundTrips may remember, once
// the request is known to be valid.
func parseAuthnRequest(doc []byte) (*crewjam.AuthnRequest, []string, error) {
	var req crewjam.AuthnRequest
	learned, err := decodeChecked(doc, &req, "an AuthnRequest")
	if err != nil {
		return nil, nil, err
	}
	return &req, learned, nil
}

// decodeChecked decodes doc into v (what names it, for the error) from
// the tokens the XML checks passed, in one pass, and returns the keys
// learnRoundTrips may remember.
func decodeChecked(doc []byte, v any, what string) ([]string, error) {
	g, err := newXMLGuard(doc)
	if err != nil {
		return nil, err
	}
	derr := xml.NewTokenDecoder(g).Decode(v)
	if err := g.finish(); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, fmt.Errorf("%w: not %s: %v", ErrMalformed, what, derr)
	}
	return g.learned, nil
}
