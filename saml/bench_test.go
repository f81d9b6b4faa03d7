package saml

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
)

// The benchmarks below measure what one SAML login costs the IdP in saml/:
// the RSA signature alone (the floor), building and signing a Response, and
// decoding and validating an AuthnRequest. Run them with
//
//	go test -run '^$' -bench . -benchmem ./saml/
//
// "Overhead beyond signing" is BenchmarkResponse minus the number of
// signatures it makes times BenchmarkRSASign.

// BenchmarkRSASign is one RSA-2048 PKCS#1 v1.5 SHA-256 signature, as every
// signed element needs.
func BenchmarkRSASign(b *testing.B) {
	kp, _ := testKeys(b)
	sum := sha256.Sum256([]byte("signed info"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kp.Key.Sign(rand.Reader, sum[:], crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
}

func benchSession() idp.Session {
	return idp.Session{ID: "s", AuthTime: time.Now(), Identity: idp.Identity{Email: "hong@acme.example", DisplayName: "홍길동"}}
}

// fixedSigner stands in for the RSA key where only the work around the
// signature is measured: it returns a constant 256-byte value at once.
type fixedSigner struct{ crypto.Signer }

func (f fixedSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return make([]byte, 256), nil
}

// BenchmarkResponse builds and signs Responses: a success with both
// signatures (the default, two RSA signatures), with the Response
// signature only, and an error Response (one each), with the direct
// writer and with the etree/goxmldsig oracle it replaced. The "NoRSA"
// variants use fixedSigner, so they measure the cost beyond RSA directly.
func BenchmarkResponse(b *testing.B) {
	for _, impl := range []string{"Direct", "Oracle"} {
		for _, rsa := range []bool{true, false} {
			for _, bc := range []struct {
				name                        string
				signResponse, signAssertion bool
				failure                     bool
			}{
				{"BothSigned", true, true, false},
				{"ResponseSigned", true, false, false},
				{"Failure", true, true, true},
			} {
				name := impl + "/" + bc.name + "/RSA"
				if !rsa {
					name = impl + "/" + bc.name + "/NoRSA"
				}
				b.Run(name, func(b *testing.B) {
					bl, sp := testBuilder(b, bc.signResponse, bc.signAssertion)
					if !rsa {
						bl.signer.key = fixedSigner{bl.signer.key}
					}
					sess := benchSession()
					pl := flowPayload{SP: sp.name, RequestID: "id-bench", ACS: testACS}
					r := &counterReader{}
					b.ReportAllocs()
					for b.Loop() {
						var err error
						switch {
						case impl == "Direct" && bc.failure:
							_, err = bl.failure(time.Now(), r, pl.ACS, pl.RequestID, statusDenied)
						case impl == "Direct":
							_, err = bl.success(time.Now(), r, sp, pl, sess)
						case bc.failure:
							id, _ := newSAMLID(r)
							d := &responseData{id: id, inResponseTo: pl.RequestID, destination: pl.ACS, issueInstant: time.Now().UTC(), status: statusDenied}
							bl.renderOracle(b, d, true, false)
						default:
							var d *responseData
							if d, err = bl.successData(time.Now(), r, sp, pl, sess); err == nil {
								bl.renderOracle(b, d, bc.signResponse, bc.signAssertion)
							}
						}
						if err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// BenchmarkAuthnRequest reads, decodes (Base64, DEFLATE, XML) and validates
// a redirect-binding AuthnRequest as handleSSO does, up to the replay
// check (which belongs to the store). Each request has its own ID, as an
// SP's do.
func BenchmarkAuthnRequest(b *testing.B) {
	kp, _ := testKeys(b)
	p, err := New(workplaceConfig(), Options{Signing: kp})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	reqs := make([]*http.Request, 256)
	for i := range reqs {
		id := fmt.Sprintf("bemkplgpdoemkhjmncgmbcdibglpngclfom%05d", i)
		reqs[i] = redirectReq(b, goodRequest(now, id).xml(), "https://acme.ncpworkplace.com/x?a=1")
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		req := reqs[i%len(reqs)]
		i++
		in, err := readInbound(req)
		if err != nil {
			b.Fatal(err)
		}
		if _, rerr := p.validate(in, now); rerr != nil {
			b.Fatal(rerr)
		}
	}
}
