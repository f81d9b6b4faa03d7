package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ncp-sso/idp/certs"
	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/config"
)

// runServe runs serve() in the background on loopback ports and returns
// the wiring once it listens; the server stops with the test.
func runServe(t *testing.T, cfg *config.Config, path string, log *slog.Logger) (*wiring, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *wiring, 1)
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, path, log, func(w *wiring, a net.Addr) { ready <- w; addrs <- a })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case w := <-ready:
		return w, (<-addrs).String()
	case err := <-done:
		t.Fatalf("serve ended before listening: %v", err)
	}
	return nil, ""
}

func scrapeMetrics(t *testing.T, addr net.Addr) string {
	t.Helper()
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	return string(b)
}

// TestOperationsAgainstRealSlapd: the admin page for a member of the admin
// group (resolved by the real ldapauth from a real slapd) and a 403 for
// anyone else, sign-in events in the store, the admin page and the JSON
// audit file, and the login metrics on the separate metrics listener.
func TestOperationsAgainstRealSlapd(t *testing.T) {
	sl, ou := directoryFixture(t)
	dir := t.TempDir()
	auditFile := filepath.Join(dir, "audit.jsonl")
	yaml := fmt.Sprintf(`
server:
  public_url: "http://127.0.0.1"
  listen: "127.0.0.1:0"
store:
  backend: bolt
  path: %q
ldap:
  urls: [%q]
  ca_file: %q
  bind_dn: "cn=svc,%s"
  bind_password: "svc-pa$$word"
  user:
    base_dn: %q
  groups:
    base_dn: %q
audit:
  file: %q
  retention: 24h
metrics:
  listen: "127.0.0.1:0"
admin:
  groups: ["CN=SSO, %s"]
`, filepath.Join(dir, "idp.db"), sl.URL, sl.CAFile, ou, ou, ou, auditFile, ou)
	cfg, err := config.Parse(strings.NewReader(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	w, addr := runServe(t, cfg, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	base := "http://" + addr

	admin := newBrowser(t, base)
	resp, _ := admin.get("/admin")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fadmin" {
		t.Fatalf("anonymous /admin: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page := admin.get(resp.Header.Get("Location"))
	resp, body := admin.login(page, "hana", "wrong")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	resp, _ = admin.login(body, "hana", "Hana!2345")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin" {
		t.Fatalf("admin login: %d to %q, want /admin", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body = admin.get("/admin?lang=en")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("admin: /admin %d", resp.StatusCode)
	}
	for _, want := range []string{"IdP administration", "LDAP " + sl.URL, "success: password", "invalid_credentials", "hana"} {
		if !strings.Contains(body, want) {
			t.Errorf("admin page lacks %q", want)
		}
	}

	other := newBrowser(t, base)
	_, page = other.get("/login")
	if resp, _ := other.login(page, "outsider", "Out!2345"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("outsider login: %d", resp.StatusCode)
	}
	if resp, _ := other.get("/admin"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("outsider: /admin %d, want 403", resp.StatusCode)
	}

	// The store, searched by user, once the background writes are done.
	w.audit.Flush()
	evs, err := w.store.(idp.AuditStore).ListAudit(t.Context(), idp.AuditQuery{User: "HANA"})
	if err != nil || len(evs) != 2 || evs[0].Result != idp.AuditSuccess || evs[1].Reason != idp.ReasonInvalidCredentials {
		t.Fatalf("hana's events = %+v (%v), want success then invalid_credentials", evs, err)
	}
	// The SIEM file: one JSON event per line, never a password.
	raw, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	var lines int
	for sc := bufio.NewScanner(strings.NewReader(string(raw))); sc.Scan(); lines++ {
		var e idp.AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.RequestID == "" || e.IP == "" {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
	}
	if lines != 3 || strings.Contains(string(raw), "Hana!2345") || strings.Contains(string(raw), "Out!2345") {
		t.Fatalf("audit file has %d lines, want 3, and no password:\n%s", lines, raw)
	}

	metrics := scrapeMetrics(t, w.metricsAddr)
	for _, want := range []string{
		`idp_logins_total{mode="none",reason="password",result="success",sp="none"} 2`,
		`idp_logins_total{mode="none",reason="invalid_credentials",result="failure",sp="none"} 1`,
		`idp_http_request_duration_seconds_count{route="/login"}`,
		`idp_ldap_request_duration_seconds_count{result="ok",server="` + sl.URL + `"}`,
		`idp_ldap_request_duration_seconds_count{result="ldap_error",server="` + sl.URL + `"}`,
		`idp_sessions_active 2`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(metrics, "hana") || strings.Contains(metrics, "outsider") {
		t.Error("a user name is a metrics label")
	}
}

// TestReloadServingCertificate: SIGHUP makes new TLS handshakes get the
// certificate now in the configured files, and says so in the log.
func TestReloadServingCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writePair := func(cn string) {
		t.Helper()
		kp, err := certs.Generate(certs.Options{CommonName: cn, Validity: 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if err := certs.WriteFiles(kp, keyFile, certFile, true); err != nil {
			t.Fatal(err)
		}
	}
	writePair("first.example.test")
	cfgFile := filepath.Join(dir, "idp.yaml")
	yaml := fmt.Sprintf(`
server:
  public_url: "https://127.0.0.1"
  listen: "127.0.0.1:0"
  tls:
    cert_file: %q
    key_file: %q
store:
  backend: memory
ldap:
  urls: ["ldap://127.0.0.1:1"]
  bind_dn: "cn=svc,dc=example,dc=test"
  bind_password: "x"
  user:
    base_dn: "dc=example,dc=test"
`, certFile, keyFile)
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	_, addr := runServe(t, cfg, cfgFile, slog.New(slog.NewJSONHandler(&logs, nil)))
	served := func() string {
		t.Helper()
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if cn := served(); cn != "first.example.test" {
		t.Fatalf("served %q before the reload", cn)
	}
	writePair("second.example.test")
	// Changed but not reloadable: reported as needing a restart.
	if err := os.WriteFile(cfgFile, []byte(yaml+"session:\n  lifetime: 4h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), `"msg":"reloaded"`); {
		if time.Now().After(deadline) {
			t.Fatalf("no reload logged:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if cn := served(); cn != "second.example.test" {
		t.Fatalf("served %q after SIGHUP, want the new certificate", cn)
	}
	for _, want := range []string{`"reloaded":["tls_certificate","templates"]`, `"needs_restart":["session"]`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("reload log lacks %s:\n%s", want, logs.String())
		}
	}
}
