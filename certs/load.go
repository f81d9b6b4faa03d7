package certs

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"time"
)

// Load reads a PEM private key (PKCS#8 "PRIVATE KEY" or PKCS#1 "RSA PRIVATE
// KEY") and a PEM certificate and refuses, with a message saying how to fix
// it: a key file that group or others may read or write, an encrypted or
// non-RSA or short key, a key that does not match the certificate, and a
// certificate that is not valid at now.
func Load(keyFile, certFile string, now time.Time) (*KeyPair, error) {
	key, err := loadKey(keyFile)
	if err != nil {
		return nil, err
	}
	cert, err := loadCert(certFile)
	if err != nil {
		return nil, err
	}
	if err := checkPair(key, cert, now, keyFile, certFile); err != nil {
		return nil, err
	}
	return &KeyPair{Key: key, Cert: cert}, nil
}

// LoadCertificate reads a PEM certificate file (the first CERTIFICATE block).
func LoadCertificate(certFile string) (*x509.Certificate, error) {
	return loadCert(certFile)
}

func loadKey(name string) (*rsa.PrivateKey, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, fmt.Errorf("certs: key file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; run `chmod 600 %s` (and make it owned by the user the IdP runs as)",
			ErrKeyPermissions, name, perm, name)
	}
	raw, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("certs: key file: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("%w: %s holds no PEM block; expected \"-----BEGIN PRIVATE KEY-----\" as written by `idp keygen`", ErrBadPEM, name)
	}
	if _, encrypted := block.Headers["Proc-Type"]; encrypted {
		return nil, fmt.Errorf("%w: %s is encrypted; store it unencrypted with mode 0600 (e.g. `openssl pkey -in OLD -out %s`)", ErrBadPEM, name, name)
	}
	var parsed any
	switch block.Type {
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, fmt.Errorf("%w: %s is encrypted; store it unencrypted with mode 0600 (e.g. `openssl pkey -in OLD -out %s`)", ErrBadPEM, name, name)
	default:
		return nil, fmt.Errorf("%w: %s holds a %q block; expected \"PRIVATE KEY\" as written by `idp keygen`", ErrBadPEM, name, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadPEM, name, err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s is a %T key; SAML signing here uses RSA: make one with `idp keygen --out PREFIX`", ErrWeakKey, name, parsed)
	}
	if err := key.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadPEM, name, err)
	}
	return key, nil
}

func loadCert(name string) (*x509.Certificate, error) {
	raw, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("certs: certificate file: %w", err)
	}
	for rest := raw; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("%w: %s holds no \"-----BEGIN CERTIFICATE-----\" block; use the .pem written by `idp keygen`", ErrBadPEM, name)
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadPEM, name, err)
		}
		return cert, nil
	}
}
