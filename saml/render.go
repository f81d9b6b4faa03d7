package saml

import (
	"sync"
	"sync/atomic"
)

// Namespaces of the elements and attributes we write.
const (
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsXS        = "http://www.w3.org/2001/XMLSchema"
	nsXSI       = "http://www.w3.org/2001/XMLSchema-instance"
)

// renderBuffers are the scratch buffers of one render: the Assertion's and
// the Response's canonical forms, and the SignedInfo being signed. They
// never leave render, so they are pooled.
type renderBuffers struct {
	assertion, response, signedInfo xmlWriter
}

// The first capacities fit a WORKPLACE Response (about 10 KB, its
// Assertion about 5 KB), so that a buffer new to the pool (the pool is
// emptied by every second garbage collection) does not grow on first use.
var renderPool = sync.Pool{New: func() any {
	return &renderBuffers{
		assertion:  xmlWriter{b: make([]byte, 0, 8<<10), canonical: true},
		response:   xmlWriter{b: make([]byte, 0, 16<<10), canonical: true},
		signedInfo: xmlWriter{b: make([]byte, 0, 1<<10), canonical: true},
	}
}}

// maxPooledBuffer keeps a Response with huge attribute values from pinning
// its buffers in the pool.
const maxPooledBuffer = 64 << 10

// render writes the Response, signing the Assertion (when there is one and
// signAssertion is set) and then the Response (signResponse), whose digest
// covers the Assertion's signature.
//
// Each signed element is written once in its exclusive canonical form and
// digested; its SignedInfo is written canonically and signed; the output
// form is then written with the Signature right after the Issuer. The
// canonical form of the Assertion inside the Response is the same as the
// Assertion's own (it declares the saml prefix in both, because the
// canonical Response does not: only its Issuer uses it), so it is written
// once and spliced around the Assertion's Signature.
func (b builder) render(d *responseData, signResponse, signAssertion bool) ([]byte, error) {
	bufs := renderPool.Get().(*renderBuffers)
	defer func() {
		if cap(bufs.assertion.b)+cap(bufs.response.b) <= maxPooledBuffer {
			renderPool.Put(bufs)
		}
	}()
	a := d.assertion
	var aSig, rSig *signature
	issuerEnd := 0
	aw := &bufs.assertion
	aw.b = aw.b[:0]
	if a != nil && (signAssertion || signResponse) {
		issuerEnd = aw.assertion(b, a, nil)
		if signAssertion {
			var err error
			if aSig, err = b.signer.sign(a.id, aw.b, &bufs.signedInfo); err != nil {
				return nil, err
			}
		}
	}
	if signResponse {
		rw := &bufs.response
		rw.b = rw.b[:0]
		rw.responseStart(d)
		rw.issuer(b.issuer, true)
		rw.status(d.status)
		if a != nil {
			rw.b = append(rw.b, aw.b[:issuerEnd]...)
			if aSig != nil {
				rw.signatureElement(b.signer, aSig)
			}
			rw.b = append(rw.b, aw.b[issuerEnd:]...)
		}
		rw.end("samlp:Response")
		var err error
		if rSig, err = b.signer.sign(d.id, rw.b, &bufs.signedInfo); err != nil {
			return nil, err
		}
	}
	extra := int(responseExtra.Load())
	if extra == 0 {
		extra = 8 << 10
	}
	out := &xmlWriter{b: responseBuffer(len(aw.b) + extra + 256)}
	out.responseStart(d)
	out.issuer(b.issuer, false)
	if rSig != nil {
		out.signatureElement(b.signer, rSig)
	}
	out.status(d.status)
	if a != nil {
		out.assertion(b, a, aSig)
	}
	out.end("samlp:Response")
	if e := len(out.b) - len(aw.b); e > 0 && e < maxPooledBuffer {
		responseExtra.Store(int64(e))
	}
	return out.b, nil
}

// responseBuffer returns an empty buffer of at least n bytes' capacity,
// from those given back with releaseResponse when one is big enough.
func responseBuffer(n int) []byte {
	if bp, ok := responsePool.Get().(*[]byte); ok && cap(*bp) >= n {
		return (*bp)[:0]
	}
	return make([]byte, 0, n)
}

// releaseResponse gives back the memory of a Response that render made and
// nothing reads any more (post, once the page holds its Base64 copy).
// Not calling it only leaves the memory to the garbage collector.
func releaseResponse(b []byte) {
	if cap(b) > 0 && cap(b) <= maxPooledBuffer {
		b = b[:0]
		responsePool.Put(&b)
	}
}

// responsePool holds released Responses' memory: about 10 KB per SAML
// login that was garbage otherwise.
var responsePool sync.Pool

// responseExtra is how much longer than its canonical Assertion the last
// Response came out (the Response's own elements and the Signatures with
// their certificates), so that the output is allocated at its full size
// at once. With a fixed 4 KB over the Assertion it grew twice per login,
// a sixth of the bytes a SAML login allocated.
var responseExtra atomic.Int64

// responseStart writes the Response start tag. The output form declares
// every prefix the document uses (xs for the xsi:type values, which no
// canonical form renders, so verifiers that resolve the QName still can);
// the canonical form only samlp and the attributes in sorted order.
func (w *xmlWriter) responseStart(d *responseData) {
	w.open("samlp:Response")
	if w.canonical {
		w.attr("xmlns:samlp", nsProtocol)
		if d.destination != "" {
			w.attr("Destination", d.destination)
		}
		w.attr("ID", d.id)
		if d.inResponseTo != "" {
			w.attr("InResponseTo", d.inResponseTo)
		}
		w.attrTime("IssueInstant", d.issueInstant)
		w.attr("Version", "2.0")
	} else {
		w.attr("xmlns:saml", nsAssertion)
		w.attr("xmlns:samlp", nsProtocol)
		w.attr("xmlns:xs", nsXS)
		w.attr("ID", d.id)
		if d.inResponseTo != "" {
			w.attr("InResponseTo", d.inResponseTo)
		}
		w.attr("Version", "2.0")
		w.attrTime("IssueInstant", d.issueInstant)
		if d.destination != "" {
			w.attr("Destination", d.destination)
		}
	}
	w.gt()
}

// issuer writes an Issuer; declareNS when no rendered ancestor declares
// the saml prefix.
func (w *xmlWriter) issuer(issuer string, declareNS bool) {
	w.open("saml:Issuer")
	if declareNS {
		w.attr("xmlns:saml", nsAssertion)
	}
	w.attr("Format", entityNameIDFormat)
	w.textEnd("saml:Issuer", issuer)
}

func (w *xmlWriter) status(st status) {
	w.raw("<samlp:Status>")
	w.open("samlp:StatusCode")
	w.attr("Value", st.top)
	if st.sub != "" {
		w.gt()
		w.open("samlp:StatusCode")
		w.attr("Value", st.sub)
		w.empty("samlp:StatusCode")
		w.end("samlp:StatusCode")
	} else {
		w.empty("samlp:StatusCode")
	}
	w.raw("</samlp:Status>")
}

// assertion writes the Assertion with sig (if any) after its Issuer, and
// returns the offset in w.b right after the Issuer. Its attributes are in
// canonical order in both forms, and it declares the saml prefix itself,
// so the output form differs from the canonical one only in escaping and
// empty elements.
func (w *xmlWriter) assertion(b builder, a *assertionData, sig *signature) int {
	w.open("saml:Assertion")
	w.attr("xmlns:saml", nsAssertion)
	w.attr("ID", a.id)
	w.attrTime("IssueInstant", a.issueInstant)
	w.attr("Version", "2.0")
	w.gt()
	w.issuer(b.issuer, false)
	issuerEnd := len(w.b)
	if sig != nil {
		w.signatureElement(b.signer, sig)
	}

	w.raw("<saml:Subject>")
	w.open("saml:NameID")
	if a.nameIDFormat != "" {
		w.attr("Format", a.nameIDFormat)
	}
	w.textEnd("saml:NameID", a.nameID)
	w.open("saml:SubjectConfirmation")
	w.attr("Method", bearerMethod)
	w.gt()
	w.open("saml:SubjectConfirmationData")
	if a.inResponseTo != "" {
		w.attr("InResponseTo", a.inResponseTo)
	}
	w.attrTime("NotOnOrAfter", a.notOnOrAfter)
	if a.recipient != "" {
		w.attr("Recipient", a.recipient)
	}
	w.empty("saml:SubjectConfirmationData")
	w.raw("</saml:SubjectConfirmation></saml:Subject>")

	w.open("saml:Conditions")
	w.attrTime("NotBefore", a.notBefore)
	w.attrTime("NotOnOrAfter", a.notOnOrAfter)
	w.raw("><saml:AudienceRestriction>")
	w.open("saml:Audience")
	w.textEnd("saml:Audience", a.audience)
	w.raw("</saml:AudienceRestriction></saml:Conditions>")

	w.open("saml:AuthnStatement")
	w.attrTime("AuthnInstant", a.authnInstant)
	if a.sessionIndex != "" {
		w.attr("SessionIndex", a.sessionIndex)
	}
	w.attrTime("SessionNotOnOrAfter", a.sessionNotOnOrAfter)
	w.raw("><saml:AuthnContext><saml:AuthnContextClassRef>" + passwordProtectedTransport +
		"</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>")

	if len(a.attributes) > 0 {
		w.raw("<saml:AttributeStatement>")
		for _, at := range a.attributes {
			w.open("saml:Attribute")
			if at.name != "" {
				w.attr("Name", at.name)
			}
			w.attr("NameFormat", attrNameFormatBasic)
			if len(at.values) == 0 {
				w.empty("saml:Attribute")
				continue
			}
			w.gt()
			for _, v := range at.values {
				w.open("saml:AttributeValue")
				w.attr("xmlns:xsi", nsXSI)
				w.attr("xsi:type", "xs:string")
				w.textEnd("saml:AttributeValue", v)
			}
			w.end("saml:Attribute")
		}
		w.raw("</saml:AttributeStatement>")
	}
	w.end("saml:Assertion")
	return issuerEnd
}
