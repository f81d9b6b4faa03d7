// Package certstest makes throwaway TLS material for tests that start real
// peers (slapd, Samba, Redis): a CA valid for a day and a server
// certificate it signed, written as PEM files. Serial numbers are random and
// positive (Go refuses negative ones, which Samba's own generator produces).
// It is test support: never use it for anything a user relies on.
package certstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ncp-sso/idp/certs"
)

// CA is a throwaway certificate authority.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// PEM is the CA certificate, for a client's trust store.
	PEM []byte
}

// NewCA creates a self-signed CA certificate valid for a day.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certstest: CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("certstest: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certstest: CA certificate: %w", err)
	}
	return &CA{cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// Issue returns a PEM server certificate and PKCS#8 key signed by the CA,
// valid for a day, for 127.0.0.1, localhost and the extra IPs and names.
func (ca *CA) Issue(ips []net.IP, names []string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("certstest: server key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  append([]net.IP{net.IPv4(127, 0, 0, 1)}, ips...),
		DNSNames:     append([]string{"localhost"}, names...),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("certstest: server certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("certstest: server key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// WriteServerFiles creates a CA named name and a server certificate for
// 127.0.0.1, localhost and the extra IPs and names, and writes ca.pem,
// server.pem and server.key (all mode 0600, as some servers insist) in dir.
func WriteServerFiles(dir, name string, ips []net.IP, names []string) (caFile, certFile, keyFile string, err error) {
	ca, err := NewCA(name)
	if err != nil {
		return "", "", "", err
	}
	certPEM, keyPEM, err := ca.Issue(ips, names)
	if err != nil {
		return "", "", "", err
	}
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	for _, f := range []struct {
		path string
		data []byte
	}{{caFile, ca.PEM}, {certFile, certPEM}, {keyFile, keyPEM}} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			return "", "", "", fmt.Errorf("certstest: %w", err)
		}
	}
	return caFile, certFile, keyFile, nil
}

// WriteOtherCAFile writes, in a temporary directory of tb, the certificate
// of a fresh CA named name that signed nothing else, for tests that must see
// certificate verification fail, and returns the file's path.
func WriteOtherCAFile(tb testing.TB, name string) string {
	tb.Helper()
	ca, err := NewCA(name)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "other-ca.pem")
	if err := os.WriteFile(path, ca.PEM, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// ReadPool reads the PEM certificates in file (such as the ca.pem that
// WriteServerFiles wrote) into a pool for a client's RootCAs. A file that
// holds no certificate is an error.
func ReadPool(file string) (*x509.CertPool, error) {
	pemData, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("certstest: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("certstest: no certificate in %s", file)
	}
	return pool, nil
}

// serial is a random positive serial number below 2^127.
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		panic("certstest: randomness source failed: " + err.Error())
	}
	return n.Add(n, big.NewInt(1))
}

// SigningFiles generates an IdP signing key and certificate with
// certs.Generate's defaults and writes them as saml.key and saml.pem in
// dir, for a test config's saml.signing.
func SigningFiles(tb testing.TB, dir string) (keyFile, certFile string) {
	tb.Helper()
	kp, err := certs.Generate(certs.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	keyFile, certFile = filepath.Join(dir, "saml.key"), filepath.Join(dir, "saml.pem")
	if err := certs.WriteFiles(kp, keyFile, certFile, false); err != nil {
		tb.Fatal(err)
	}
	return keyFile, certFile
}
