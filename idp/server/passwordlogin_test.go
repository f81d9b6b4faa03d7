package server

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/memory"
	"github.com/ncp-sso/idp/idp/throttle"
)

// TestPasswordLogin: the login API's password check. A right password
// gives the identity and a password_api audit event, a wrong or empty one
// ErrWrongPassword; the throttle counts per account and not per address
// (one SP server calls for every employee), so one account's failures do
// not stop another's logins from the same address.
func TestPasswordLogin(t *testing.T) {
	b := memory.New()
	st := store.New(b)
	t.Cleanup(func() { st.Close() })
	one := 1
	th, err := throttle.New(b, throttle.Config{MaxFailuresPerAccount: 3, MaxFailuresPerIP: 2, Window: 15 * time.Minute, FamiliarBrowserFailures: &one})
	if err != nil {
		t.Fatal(err)
	}
	auth := &fakeAuth{users: map[string]string{"alice": "alice-pw", "bob": "bob-pw"}}
	rec := &recorder{}
	s, err := New(Options{Config: Config{PublicURL: "https://sso.example.com"}, Store: st, Authenticator: auth, Throttle: th, Auditor: rec})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	ctx := func() echo.Context {
		r := httptest.NewRequest(http.MethodPost, "/saml/api/login", nil)
		r.RemoteAddr = "198.51.100.7:4000" // the SP's server, for everyone
		return e.NewContext(r, httptest.NewRecorder())
	}
	f := idp.Flow{Protocol: "saml", SP: "worksmobile.com"}

	if _, err := s.PasswordLogin(ctx(), f, "alice", ""); !errors.Is(err, ErrWrongPassword) || auth.calls.Load() != 0 {
		t.Errorf("empty password: %v, directory asked %d times", err, auth.calls.Load())
	}
	for i := range 2 {
		if _, err := s.PasswordLogin(ctx(), f, "alice", "guess"); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("wrong password %d: %v", i+1, err)
		}
	}
	var te *idp.ThrottledError
	if _, err := s.PasswordLogin(ctx(), f, "alice", "alice-pw"); !errors.As(err, &te) {
		t.Errorf("after 2 failures from a client that is no browser of alice's: %v, want throttled", err)
	}
	id, err := s.PasswordLogin(ctx(), f, " bob ", "bob-pw")
	if err != nil || id.Username != "bob" {
		t.Fatalf("bob from the same address: %+v %v (the address must not be limited)", id, err)
	}
	var last idp.AuditEvent
	for _, ev := range rec.events() {
		last = ev
	}
	if last.Result != idp.AuditSuccess || last.Reason != idp.ReasonPasswordAPI || last.SP != "worksmobile.com" || last.Mode != "saml" {
		t.Errorf("audit event %+v", last)
	}
}
