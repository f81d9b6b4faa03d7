package saml

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"sync/atomic"
	"time"

	dsig "github.com/russellhaering/goxmldsig"

	"github.com/ncp-sso/idp/idp/cputime"
)

// XML signature algorithm identifiers we emit (goxmldsig's names, which
// validate.go checks against too). SHA-1 is never used.
const (
	nsDSig       = dsig.Namespace
	algExcC14N   = string(dsig.CanonicalXML10ExclusiveAlgorithmId)
	algRSASHA256 = dsig.RSASHA256SignatureMethod
	algEnveloped = string(dsig.EnvelopedSignatureAltorithmId)
	algDigSHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
)

// signer makes enveloped XML signatures of one fixed shape: exclusive C14N
// without an inclusive-namespace prefix list, the enveloped-signature
// transform, a SHA-256 digest, RSA PKCS#1 v1.5 with SHA-256, and the
// signing certificate in KeyInfo. It is immutable and safe for concurrent
// use.
type signer struct {
	key crypto.Signer
	// certB64 is the certificate's DER in Base64, computed once.
	certB64 string
	obs     SigningObserver // nil: signatures are neither counted nor timed
	made    *atomic.Uint64  // signatures made, for choosing the timed ones
}

func newSigner(key crypto.Signer, cert *x509.Certificate, obs SigningObserver) signer {
	return signer{key: key, certB64: base64.StdEncoding.EncodeToString(cert.Raw), obs: obs, made: new(atomic.Uint64)}
}

// TimedEvery is how often a signature is timed: the first, then one in
// TimedEvery. Reading a thread's CPU clock is a system call, two per
// timed signature; timing every one cost some 14 us of CPU per login with
// two signatures (a CPU profile at 64 browsers), about 2.5 % of what a
// login costs beyond signing. One in 16 still times dozens a second under
// load, plenty for a mean.
const TimedEvery = 16

// SigningObserver learns of each RSA signature, and of the CPU time of
// those that were timed (measured on the thread that made it: the
// metrics' idp_saml_signing_cpu_seconds_total over
// idp_saml_signatures_timed_total is the mean signing time).
type SigningObserver interface {
	// Signed is called once per signature; timed says whether cpu was
	// measured (false: cpu is 0).
	Signed(cpu time.Duration, timed bool)
}

// signDigest signs a SHA-256 digest; when someone observes, one
// signature in TimedEvery is timed in the thread's CPU time.
func (s signer) signDigest(sum []byte) ([]byte, error) {
	if s.obs == nil {
		return s.key.Sign(rand.Reader, sum, crypto.SHA256)
	}
	var raw []byte
	var err error
	sign := func() { raw, err = s.key.Sign(rand.Reader, sum, crypto.SHA256) }
	var cpu time.Duration
	timed := false
	if (s.made.Add(1)-1)%TimedEvery == 0 {
		cpu, timed = cputime.Measure(sign)
	} else {
		sign()
	}
	if err == nil {
		s.obs.Signed(cpu, timed)
	}
	return raw, err
}

// signature is the part of a Signature element that differs from one
// signature to the next.
type signature struct {
	refID  string            // the signed element's ID
	digest [sha256.Size]byte // of the element's canonical form
	value  []byte            // Base64 SignatureValue, as long as the key needs
}

// sign signs the element whose exclusive canonical form (without this
// signature: the enveloped-signature transform removes it) is canonical.
// The SignedInfo is written canonically from its fixed shape, digested,
// and signed once.
func (s signer) sign(refID string, canonical []byte, scratch *xmlWriter) (*signature, error) {
	sig := &signature{refID: refID, digest: sha256.Sum256(canonical)}
	scratch.b, scratch.canonical = scratch.b[:0], true
	// SignedInfo is canonicalised on its own, so it declares ds itself.
	scratch.signedInfo(sig, true)
	sum := sha256.Sum256(scratch.b)
	raw, err := s.signDigest(sum[:])
	if err != nil {
		return nil, fmt.Errorf("saml: sign: %w", err)
	}
	sig.value = base64.StdEncoding.AppendEncode(nil, raw)
	return sig, nil
}

// signedInfo writes the SignedInfo element; declareNS is set when it is
// written on its own (the form that is signed).
func (w *xmlWriter) signedInfo(sig *signature, declareNS bool) {
	w.open("ds:SignedInfo")
	if declareNS {
		w.attr("xmlns:ds", nsDSig)
	}
	w.gt()
	w.open("ds:CanonicalizationMethod")
	w.attr("Algorithm", algExcC14N)
	w.empty("ds:CanonicalizationMethod")
	w.open("ds:SignatureMethod")
	w.attr("Algorithm", algRSASHA256)
	w.empty("ds:SignatureMethod")
	w.raw(`<ds:Reference URI="#`)
	w.escape(sig.refID, true)
	w.raw(`">`)
	w.raw("<ds:Transforms>")
	w.open("ds:Transform")
	w.attr("Algorithm", algEnveloped)
	w.empty("ds:Transform")
	w.open("ds:Transform")
	w.attr("Algorithm", algExcC14N)
	w.empty("ds:Transform")
	w.raw("</ds:Transforms>")
	w.open("ds:DigestMethod")
	w.attr("Algorithm", algDigSHA256)
	w.empty("ds:DigestMethod")
	w.raw("<ds:DigestValue>")
	w.b = base64.StdEncoding.AppendEncode(w.b, sig.digest[:])
	w.raw("</ds:DigestValue></ds:Reference></ds:SignedInfo>")
}

// signatureElement writes the whole Signature element, as placed right
// after the signed element's Issuer (the SAML schema's position).
func (w *xmlWriter) signatureElement(s signer, sig *signature) {
	w.open("ds:Signature")
	w.attr("xmlns:ds", nsDSig)
	w.gt()
	w.signedInfo(sig, false)
	w.raw("<ds:SignatureValue>")
	w.b = append(w.b, sig.value...)
	w.raw("</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>")
	w.raw(s.certB64)
	w.raw("</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>")
}
