package certs

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Defaults for Generate.
const (
	DefaultBits       = 2048
	DefaultValidity   = 3 * 365 * 24 * time.Hour // about three years
	DefaultCommonName = "SAML IdP signing"
	// backdate tolerates clocks that run slightly behind ours.
	backdate = 5 * time.Minute
)

// allowedBits are the RSA sizes Generate makes.
var allowedBits = map[int]bool{2048: true, 3072: true, 4096: true}

// Options configures Generate. The zero value gives a 2048-bit key and a
// three-year certificate starting now.
type Options struct {
	// Bits is the RSA key size: 2048 (default), 3072 or 4096.
	Bits int
	// Validity is how long the certificate is valid. Default DefaultValidity.
	Validity time.Duration
	// CommonName is the certificate subject CN. Default DefaultCommonName.
	CommonName string
	// Now is the start of validity (minus a few minutes of clock slack).
	// Default time.Now().
	Now time.Time
	// Rand supplies the serial number; the key itself always comes from
	// crypto/rand (Go ignores custom readers for key generation). Default
	// crypto/rand.Reader.
	Rand io.Reader
}

// Generate makes a new RSA key and a self-signed certificate for it.
func Generate(o Options) (*KeyPair, error) {
	if o.Bits == 0 {
		o.Bits = DefaultBits
	}
	if !allowedBits[o.Bits] {
		return nil, fmt.Errorf("%w: %d bits; use 2048, 3072 or 4096", ErrWeakKey, o.Bits)
	}
	if o.Validity == 0 {
		o.Validity = DefaultValidity
	}
	if o.Validity < 0 {
		return nil, fmt.Errorf("certs: validity %s is negative", o.Validity)
	}
	if o.CommonName == "" {
		o.CommonName = DefaultCommonName
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	key, err := rsa.GenerateKey(rand.Reader, o.Bits)
	if err != nil {
		return nil, fmt.Errorf("certs: generate key: %w", err)
	}
	serial, err := rand.Int(o.Rand, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certs: serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)), // never zero
		Subject:               pkix.Name{CommonName: o.CommonName},
		NotBefore:             o.Now.Add(-backdate).UTC(),
		NotAfter:              o.Now.Add(o.Validity).UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		SignatureAlgorithm:    x509.SHA256WithRSA,
	}
	der, err := x509.CreateCertificate(o.Rand, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("certs: create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: parse certificate: %w", err)
	}
	return &KeyPair{Key: key, Cert: cert}, nil
}

// ErrExists is returned by WriteFiles when a target exists and overwrite is
// false.
var ErrExists = errors.New("certs: file exists")

// WriteFiles writes the key (mode 0600) and certificate (mode 0644). Each
// file is written to a temporary file in the same directory and renamed into
// place, so a reader never sees half a key and the key is never, even
// briefly, readable by others. Without overwrite an existing file is an error.
func WriteFiles(kp *KeyPair, keyFile, certFile string, overwrite bool) error {
	if !overwrite {
		for _, f := range []string{keyFile, certFile} {
			if _, err := os.Lstat(f); err == nil {
				return fmt.Errorf("%w: %s; pick another --out or pass --force to replace it", ErrExists, f)
			}
		}
	}
	keyPEM, err := kp.KeyPEM()
	if err != nil {
		return err
	}
	if err := writeAtomic(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return writeAtomic(certFile, kp.CertPEM(), 0o644)
}

func writeAtomic(name string, data []byte, mode os.FileMode) (err error) {
	// CreateTemp makes the file with mode 0600, so key bytes are never
	// exposed before the final Chmod.
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return fmt.Errorf("certs: write %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("certs: write %s: %w", name, err)
	}
	if err = f.Chmod(mode); err != nil {
		_ = f.Close()
		return fmt.Errorf("certs: chmod %s: %w", name, err)
	}
	if err = f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("certs: sync %s: %w", name, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("certs: close %s: %w", name, err)
	}
	if err = os.Rename(f.Name(), name); err != nil {
		return fmt.Errorf("certs: rename to %s: %w", name, err)
	}
	return nil
}
