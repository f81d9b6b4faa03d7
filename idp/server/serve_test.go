package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/memory"
)

// writeSelfSigned writes a throwaway serving certificate for 127.0.0.1.
func writeSelfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// lockedBuffer collects log output from concurrent handlers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServeTLSAndGracefulShutdown serves HTTPS from files, checks the
// https-only headers and cookie flags, and stops cleanly when the context
// ends; the log never holds the password or the session ID.
func TestServeTLSAndGracefulShutdown(t *testing.T) {
	certFile, keyFile, pool := writeSelfSigned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	st := store.New(memory.New())
	defer st.Close()
	s, err := New(Options{
		Config:        Config{PublicURL: "https://" + ln.Addr().String(), TLS: TLSConfig{CertFile: certFile, KeyFile: keyFile}},
		Store:         st,
		Authenticator: &fakeAuth{users: map[string]string{"alice": "S3cret-Pa$$"}},
		Logger:        slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	c := browser(t)
	c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	base := "https://" + ln.Addr().String()
	resp, page := get(t, c, base+"/login")
	if resp.TLS == nil || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("TLS %v, HSTS %q", resp.TLS != nil, resp.Header.Get("Strict-Transport-Security"))
	}
	resp, _ = submitLogin(t, c, base, page, "alice", "S3cret-Pa$$")
	var sid string
	for _, ck := range resp.Cookies() {
		if ck.Name == "__Host-idp_session" {
			sid = ck.Value
			if !ck.Secure || !ck.HttpOnly {
				t.Errorf("cookie flags on https: %+v", ck)
			}
		}
	}
	if sid == "" {
		t.Fatalf("no __Host- session cookie: %v", resp.Cookies())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("graceful shutdown did not finish")
	}
	out := logs.String()
	if !strings.Contains(out, "login_succeeded") {
		t.Fatalf("no audit event in log:\n%s", out)
	}
	for _, secret := range []string{"S3cret-Pa$$", sid} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains a secret %q", secret)
		}
	}
}
