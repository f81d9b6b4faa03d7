package certstest

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"testing"
)

func TestServerFilesVerify(t *testing.T) {
	ip := net.IPv4(127, 0, 0, 9)
	caFile, certFile, keyFile, err := WriteServerFiles(t.TempDir(), "test CA", []net.IP{ip}, []string{"dc1.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	pool, err := ReadPool(caFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"127.0.0.1", "127.0.0.9", "localhost", "dc1.example.test"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if leaf.SerialNumber.Sign() <= 0 {
		t.Error("serial number must be positive")
	}
	wrong, err := ReadPool(WriteOtherCAFile(t, "other"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: wrong, DNSName: "localhost"}); err == nil {
		t.Error("verified against a CA that did not sign it")
	}
	for _, f := range []string{caFile, certFile, keyFile} {
		if st, _ := os.Stat(f); st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %o", f, st.Mode().Perm())
		}
	}
}

// TestReadPool: a missing file, or one without a certificate (a key, an
// empty file), is an error rather than an empty pool that would fail later
// and obscurely. (That the pool of a CA file trusts that CA, and the pool of
// another CA's file does not, is TestServerFilesVerify.)
func TestReadPool(t *testing.T) {
	dir := t.TempDir()
	_, _, keyFile, err := WriteServerFiles(dir, "pool CA", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	empty := dir + "/empty.pem"
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, file := range map[string]string{"missing file": dir + "/nope.pem", "key only": keyFile, "empty file": empty} {
		t.Run(name, func(t *testing.T) {
			if p, err := ReadPool(file); err == nil || p != nil {
				t.Errorf("ReadPool(%s) = %v, %v; want an error", file, p, err)
			}
		})
	}
}
