package saml

import (
	"crypto"
	"crypto/x509"
	"fmt"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// signer makes enveloped XML signatures: RSA-SHA256 over a SHA-256 digest,
// exclusive C14N without an inclusive-namespace prefix list. SHA-1 is never
// used. It is safe for concurrent use (a new signing context per call).
type signer struct {
	key  crypto.Signer
	cert *x509.Certificate
}

func (s signer) context() (*dsig.SigningContext, error) {
	ctx, err := dsig.NewSigningContext(s.key, [][]byte{s.cert.Raw})
	if err != nil {
		return nil, fmt.Errorf("saml: signing context: %w", err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		return nil, fmt.Errorf("saml: signature method: %w", err)
	}
	return ctx, nil
}

// signature returns the enveloped Signature element for el, whose ID
// attribute the Reference points at. The caller places it right after the
// element's Issuer, as the SAML schema requires; the enveloped-signature
// transform removes it again before digesting, so its position does not
// change the digest.
func (s signer) signature(el *etree.Element) (*etree.Element, error) {
	ctx, err := s.context()
	if err != nil {
		return nil, err
	}
	sig, err := ctx.ConstructSignature(el, true)
	if err != nil {
		return nil, fmt.Errorf("saml: sign %s: %w", el.Tag, err)
	}
	return sig, nil
}
