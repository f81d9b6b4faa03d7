package certs

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// pairs caches generated keys: RSA generation is the slow part of these
// tests and each size is needed by several cases.
var pairs sync.Map

func testPair(t *testing.T, bits int) *KeyPair {
	t.Helper()
	if kp, ok := pairs.Load(bits); ok {
		return kp.(*KeyPair)
	}
	kp, err := Generate(Options{Bits: bits, Now: t0, Validity: 24 * time.Hour, CommonName: "test"})
	if err != nil {
		t.Fatalf("Generate(%d): %v", bits, err)
	}
	pairs.Store(bits, kp)
	return kp
}

func writePair(t *testing.T, kp *KeyPair) (keyFile, certFile string) {
	t.Helper()
	dir := t.TempDir()
	keyFile, certFile = filepath.Join(dir, "idp.key"), filepath.Join(dir, "idp.pem")
	if err := WriteFiles(kp, keyFile, certFile, false); err != nil {
		t.Fatalf("WriteFiles: %v", err)
	}
	return keyFile, certFile
}

func TestGenerateSizes(t *testing.T) {
	for _, bits := range []int{2048, 3072, 4096} {
		t.Run(strconv.Itoa(bits), func(t *testing.T) {
			kp := testPair(t, bits)
			if got := kp.Key.N.BitLen(); got != bits {
				t.Errorf("key has %d bits, want %d", got, bits)
			}
			if got := kp.Cert.PublicKey.(*rsa.PublicKey).N.BitLen(); got != bits {
				t.Errorf("certificate key has %d bits, want %d", got, bits)
			}
			if kp.Cert.Subject.CommonName != "test" {
				t.Errorf("CN = %q", kp.Cert.Subject.CommonName)
			}
			if !kp.Cert.NotAfter.Equal(t0.Add(24 * time.Hour)) {
				t.Errorf("NotAfter = %s", kp.Cert.NotAfter)
			}
			if kp.Cert.SignatureAlgorithm.String() != "SHA256-RSA" {
				t.Errorf("certificate signed with %s", kp.Cert.SignatureAlgorithm)
			}
		})
	}
	for _, bits := range []int{1024, 1536, 8192} {
		if _, err := Generate(Options{Bits: bits}); !errors.Is(err, ErrWeakKey) {
			t.Errorf("Generate(%d bits) = %v, want ErrWeakKey", bits, err)
		}
	}
}

func TestWriteFilesModesAndPEM(t *testing.T) {
	kp := testPair(t, 2048)
	keyFile, certFile := writePair(t, kp)
	for name, want := range map[string]os.FileMode{keyFile: 0o600, certFile: 0o644} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode %04o, want %04o", filepath.Base(name), got, want)
		}
	}
	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pemBytes, []byte("-----BEGIN CERTIFICATE-----\n")) ||
		!bytes.HasSuffix(pemBytes, []byte("-----END CERTIFICATE-----\n")) {
		t.Errorf("certificate file is not a single PEM CERTIFICATE block:\n%s", pemBytes)
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(filepath.Dir(keyFile))
	if len(ents) != 2 {
		t.Errorf("directory holds %d entries, want 2", len(ents))
	}
	// A second write without overwrite refuses; with overwrite it replaces.
	if err := WriteFiles(kp, keyFile, certFile, false); !errors.Is(err, ErrExists) {
		t.Errorf("second WriteFiles = %v, want ErrExists", err)
	}
	if err := WriteFiles(kp, keyFile, certFile, true); err != nil {
		t.Errorf("WriteFiles(overwrite): %v", err)
	}
	got, err := Load(keyFile, certFile, t0)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !got.Key.Equal(kp.Key) || !got.Cert.Equal(kp.Cert) {
		t.Error("Load did not return the written pair")
	}
}

func TestLoadRefuses(t *testing.T) {
	kp := testPair(t, 2048)
	other := testPair(t, 3072)
	tests := []struct {
		name    string
		setup   func(t *testing.T) (keyFile, certFile string)
		now     time.Time
		wantErr error
		wantMsg string
	}{
		{
			name: "group readable key",
			setup: func(t *testing.T) (string, string) {
				k, c := writePair(t, kp)
				if err := os.Chmod(k, 0o640); err != nil {
					t.Fatal(err)
				}
				return k, c
			},
			now: t0, wantErr: ErrKeyPermissions, wantMsg: "chmod 600 ",
		},
		{
			name: "world readable key",
			setup: func(t *testing.T) (string, string) {
				k, c := writePair(t, kp)
				if err := os.Chmod(k, 0o604); err != nil {
					t.Fatal(err)
				}
				return k, c
			},
			now: t0, wantErr: ErrKeyPermissions, wantMsg: "chmod 600 ",
		},
		{
			name: "key of another certificate",
			setup: func(t *testing.T) (string, string) {
				k, _ := writePair(t, kp)
				_, c := writePair(t, other)
				return k, c
			},
			now: t0, wantErr: ErrKeyMismatch, wantMsg: "idp keygen --out",
		},
		{
			name:    "expired certificate",
			setup:   func(t *testing.T) (string, string) { return writePair(t, kp) },
			now:     t0.Add(25 * time.Hour),
			wantErr: ErrCertExpired, wantMsg: "idp keygen --out",
		},
		{
			name:    "certificate not yet valid",
			setup:   func(t *testing.T) (string, string) { return writePair(t, kp) },
			now:     t0.Add(-time.Hour),
			wantErr: ErrCertNotYetValid, wantMsg: "clock",
		},
		{
			name: "certificate file without PEM",
			setup: func(t *testing.T) (string, string) {
				k, c := writePair(t, kp)
				if err := os.WriteFile(c, kp.Cert.Raw, 0o644); err != nil {
					t.Fatal(err)
				}
				return k, c
			},
			now: t0, wantErr: ErrBadPEM, wantMsg: "-----BEGIN CERTIFICATE-----",
		},
		{
			name: "key file holds a certificate",
			setup: func(t *testing.T) (string, string) {
				k, c := writePair(t, kp)
				if err := os.WriteFile(k, kp.CertPEM(), 0o600); err != nil {
					t.Fatal(err)
				}
				return k, c
			},
			now: t0, wantErr: ErrBadPEM, wantMsg: "PRIVATE KEY",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, c := tt.setup(t)
			_, err := Load(k, c, tt.now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Load = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("message %q does not say %q", err, tt.wantMsg)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	kp := testPair(t, 2048)
	fp := Fingerprint(kp.Cert)
	if len(fp) != 32*3-1 || strings.Count(fp, ":") != 31 || strings.ToUpper(fp) != fp {
		t.Errorf("fingerprint %q is not 32 colon-separated upper-case hex bytes", fp)
	}
	if Fingerprint(testPair(t, 3072).Cert) == fp {
		t.Error("two certificates share a fingerprint")
	}
}

func TestLoadShortAndPKCS1Keys(t *testing.T) {
	short, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &short.PublicKey, short)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, typ string, b []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	k := write("short.key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(short), 0o600)
	c := write("short.pem", "CERTIFICATE", der, 0o644)
	if _, err := Load(k, c, t0); !errors.Is(err, ErrWeakKey) || !strings.Contains(err.Error(), "idp keygen") {
		t.Errorf("Load(1024-bit) = %v, want ErrWeakKey saying idp keygen", err)
	}
	// A PKCS#1 key of an acceptable size loads.
	kp := testPair(t, 2048)
	k2 := write("p1.key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(kp.Key), 0o400)
	c2 := write("p1.pem", "CERTIFICATE", kp.Cert.Raw, 0o644)
	if _, err := Load(k2, c2, t0); err != nil {
		t.Errorf("Load(PKCS#1, mode 0400) = %v", err)
	}
}
