package saml

import (
	"crypto/sha256"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/certs"
)

// signings records what a SigningObserver is told.
type signings struct {
	all, timed int
	cpu        time.Duration
}

func (s *signings) Signed(cpu time.Duration, timed bool) {
	s.all++
	if timed {
		s.timed++
		s.cpu += cpu
	} else if cpu != 0 {
		s.cpu = -1 // an untimed signature with a time: caught below
	}
}

// TestSigningIsSampled: every signature is counted, the first and then one
// in TimedEvery are timed, and a timed one carries an RSA signature's time.
func TestSigningIsSampled(t *testing.T) {
	kp, _ := testKeys(t)
	obs := &signings{}
	s := newSigner(kp.Key, kp.Cert, obs)
	sum := sha256.Sum256([]byte("x"))
	n := 2*TimedEvery + 1
	for range n {
		if _, err := s.signDigest(sum[:]); err != nil {
			t.Fatal(err)
		}
	}
	if obs.all != n {
		t.Errorf("%d signatures observed of %d", obs.all, n)
	}
	if runtime.GOOS != "linux" {
		return // the thread's CPU clock is read on Linux only
	}
	if obs.timed != 3 {
		t.Errorf("%d of %d signatures timed, want 3 (the 1st, 17th and 33rd)", obs.timed, n)
	}
	if per := obs.cpu / time.Duration(max(obs.timed, 1)); per < 50*time.Microsecond || per > 100*time.Millisecond {
		t.Errorf("%v per timed signature: not an RSA signature's time", per)
	}
}

// TestLargerKeysSign: a 3072- or 4096-bit signing key (idp keygen --bits
// offers both) gives Responses whose signatures xmlsec1 verifies. The
// SignatureValue once had room for 512 Base64 bytes, and a 4096-bit
// signature takes 684: every SAML answer then failed.
func TestLargerKeysSign(t *testing.T) {
	if testing.Short() {
		t.Skip("generates RSA keys of 3072 and 4096 bits")
	}
	for _, bits := range []int{3072, 4096} {
		kp, err := certs.Generate(certs.Options{Bits: bits, Now: time.Now().Add(-time.Hour), CommonName: "idp.example"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := New(workplaceConfig(), Options{Signing: kp})
		if err != nil {
			t.Fatalf("%d bits: New: %v", bits, err)
		}
		h := newFakeHost(t)
		h.proto = p
		e := echo.New()
		p.Register(e, h)
		env := &testEnv{p: p, h: h, e: e, kp: kp}
		now := h.Now()
		env.do(redirectReq(t, goodRequest(now, "id-large-key").xml(), "r"))
		rec := resume(t, env, h.takeBegun(t), testSession(now))
		if rec.Code != http.StatusOK {
			t.Fatalf("%d bits: the login was answered %d: %s", bits, rec.Code, h.logBuf.String())
		}
		form := parsePostPage(t, rec.Body.String())
		for _, node := range []string{responseSigXPath, assertionSigXPath} {
			if err := xmlsec1Verify(t, form.XML, kp.CertPEM(), node); err != nil {
				t.Errorf("%d bits, %s: %v", bits, node, err)
			}
		}
	}
}
