package metrics

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go m.Serve(t.Context(), ln, nil)
	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestMetrics(t *testing.T) {
	now := time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)
	m := New(func() time.Time { return now })
	m.Audit(t.Context(), idp.AuditEvent{SP: "workplace", Mode: "oauth", Result: idp.AuditSuccess, Reason: idp.ReasonPassword, User: "alice"})
	m.Audit(t.Context(), idp.AuditEvent{Result: idp.AuditFailure, Reason: idp.ReasonInvalidCredentials, User: "bob"})
	m.Request("/oauth/token", 200, 20*time.Millisecond)
	m.LDAPRequest("ldaps://dc1.example.test", 5*time.Millisecond, "network_error")
	m.LDAPFailover("ldaps://dc1.example.test", "ldaps://dc2.example.test")
	m.Throttled("login")
	m.SessionStarted(now.Add(8 * time.Hour))
	m.SessionStarted(now.Add(8 * time.Hour))
	m.SessionStarted(now.Add(-time.Minute)) // already over
	m.SessionEnded()
	m.SetCertificateExpiry("saml_signing", time.Unix(1900000000, 0))
	body := scrape(t, m)
	for _, want := range []string{
		`idp_logins_total{mode="oauth",reason="password",result="success",sp="workplace"} 1`,
		`idp_logins_total{mode="none",reason="invalid_credentials",result="failure",sp="none"} 1`,
		`idp_http_request_duration_seconds_count{route="/oauth/token"} 1`,
		`idp_ldap_errors_total{server="ldaps://dc1.example.test"} 1`,
		`idp_ldap_failovers_total{from="ldaps://dc1.example.test",to="ldaps://dc2.example.test"} 1`,
		`idp_throttled_total{kind="login"} 1`,
		`idp_sessions_active 1`,
		`idp_certificate_expiry_timestamp_seconds{cert="saml_signing"} 1.9e+09`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	for _, secret := range []string{"alice", "bob"} {
		if strings.Contains(body, secret) {
			t.Errorf("user name %q in metrics", secret)
		}
	}
}
