package saml

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
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
// tricks that make one parser see different elements than another). One
// strict pass does both: each token is also put through the round-trip
// validator's per-token check (what its Validate does in a second,
// non-strict pass of its own; a document the strict decoder accepts
// yields the same tokens in both).
func checkXML(doc []byte) error {
	if !isUTF8Compatible(doc) {
		return fmt.Errorf("%w: XML is not UTF-8", ErrMalformed)
	}
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	seenRoot := false
	// A round-trip failure is reported only when the document has no
	// other fault, as when the validator ran after the strict pass.
	var roundTrip error
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: XML: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return ErrDTD
		case xml.StartElement:
			seenRoot = true
		case xml.ProcInst:
			if t.Target != "xml" {
				return fmt.Errorf("%w: XML processing instruction", ErrMalformed)
			}
		}
		if roundTrip == nil {
			roundTrip = xrv.CheckToken(tok)
		}
	}
	if !seenRoot {
		return fmt.Errorf("%w: no XML element", ErrMalformed)
	}
	if roundTrip != nil {
		return fmt.Errorf("%w: XML does not round-trip: %v", ErrMalformed, roundTrip)
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
// AuthnRequest. It does not validate its content.
func ParseAuthnRequest(doc []byte) (*crewjam.AuthnRequest, error) {
	if err := checkXML(doc); err != nil {
		return nil, err
	}
	var req crewjam.AuthnRequest
	if err := xml.Unmarshal(doc, &req); err != nil {
		return nil, fmt.Errorf("%w: not an AuthnRequest: %v", ErrMalformed, err)
	}
	return &req, nil
}
