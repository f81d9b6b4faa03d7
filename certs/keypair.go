package certs

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"time"
)

// MinBits is the smallest RSA key accepted for signing.
const MinBits = 2048

// KeyPair is an RSA signing key and its certificate. It is immutable once
// made; share it freely.
type KeyPair struct {
	Key  *rsa.PrivateKey
	Cert *x509.Certificate
}

// CertPEM returns the certificate as a single PEM "CERTIFICATE" block, the
// file an admin uploads to the SP console.
func (kp *KeyPair) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kp.Cert.Raw})
}

// KeyPEM returns the private key as a PKCS#8 "PRIVATE KEY" PEM block.
func (kp *KeyPair) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(kp.Key)
	if err != nil {
		return nil, fmt.Errorf("certs: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Fingerprint is the certificate's SHA-256 fingerprint as colon-separated
// upper-case hex (the form consoles and openssl print).
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// checkPair verifies what every loaded or generated pair must satisfy:
// RSA of at least MinBits, key matching the certificate, certificate valid
// at now. name is used in messages (usually the certificate file).
func checkPair(key *rsa.PrivateKey, cert *x509.Certificate, now time.Time, keyName, certName string) error {
	if key.N.BitLen() < MinBits {
		return fmt.Errorf("%w: %s is a %d-bit RSA key; make a new pair of at least %d bits with `idp keygen --out PREFIX`",
			ErrWeakKey, keyName, key.N.BitLen(), MinBits)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return fmt.Errorf("%w: %s does not belong to certificate %s; point the key and certificate settings at files made together, or make a new pair with `idp keygen --out PREFIX`",
			ErrKeyMismatch, keyName, certName)
	}
	if now.After(cert.NotAfter) {
		return fmt.Errorf("%w: certificate %s expired on %s; make a new pair with `idp keygen --out PREFIX`, upload the new .pem to the SP console, then point the settings at it",
			ErrCertExpired, certName, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(cert.NotBefore) {
		return fmt.Errorf("%w: certificate %s is valid only from %s; check this server's clock or make a new pair with `idp keygen --out PREFIX`",
			ErrCertNotYetValid, certName, cert.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}
