package main

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncp-sso/idp/certs/certstest"
	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/config"
	"github.com/ncp-sso/idp/idp/server"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/memory"
	"github.com/ncp-sso/idp/ldapauth"
	"github.com/ncp-sso/idp/ldapauth/slapdtest"
)

// The browser journeys' world: the real server over HTTPS on loopback with
// a real slapd, both SSO modes, and an SP simulator (also HTTPS) that starts
// logins, receives the OAuth code on its callback and the SAML Response on
// its ACS, and does what the real SP does with them.

const (
	userHana     = "hana"
	passHana     = "Hana!2345"
	mailHana     = "hana@example.test"
	userJun      = "jun" // password right, but expired (see accountStates)
	passJun      = "Jun!2345"
	helpURLPath  = "/password-help"
	spWorkplace  = "wp-client"
	spWorks      = "works-client"
	secretWP     = "wp-secret-0123456789"
	secretWorks  = "works-secret-0123456789"
	brandCompany = "에이씨미 주식회사"
)

// browserWorld is one IdP and its SP simulator.
type browserWorld struct {
	tls    *testTLS
	idpURL string
	spURL  string
	sp     *spSim
}

// directoryForBrowser starts slapd with the service account and the
// employees hana, jun, minho and sora (members of the "sso" group), in the
// test's own OU.
func directoryForBrowser(t *testing.T) (*slapdtest.Server, string) {
	t.Helper()
	return startDirectory(t, []dirUser{
		userHanaEntry,
		{uid: "jun", cn: "이준", sn: "Lee", mail: "jun@example.test", password: "Jun!2345", member: true},
		{uid: "minho", cn: "김민호", sn: "Kim", mail: "minho@example.test", password: "Minho!2345", member: true},
		{uid: "sora", cn: "최소라", sn: "Choi", mail: "sora@example.test", password: "Sora!2345", member: true},
	})
}

// accountStates wraps the real authenticator: a listed user whose password
// the directory accepted is refused with that account state, as Active
// Directory does for an expired password. Only the page's handling of the
// state is under test here; ldapauth tests the directory side.
type accountStates struct {
	next   idp.Authenticator
	states map[string]idp.AccountState
}

func (a accountStates) Authenticate(ctx context.Context, username, password string) (idp.Identity, bool, error) {
	id, ok, err := a.next.Authenticate(ctx, username, password)
	if st, listed := a.states[username]; listed && ok && err == nil {
		return idp.Identity{}, false, &idp.AccountError{State: st, Reason: "test account state"}
	}
	return id, ok, err
}

// Check forwards the readiness check.
func (a accountStates) Check(ctx context.Context) error {
	if c, ok := a.next.(idp.Checker); ok {
		return c.Check(ctx)
	}
	return nil
}

// startBrowserWorld wires the server from a parsed configuration, as
// `idp serve` does, behind HTTPS on 127.0.0.1 with the test certificate.
// directoryDown points the IdP at a port where no directory listens.
func startBrowserWorld(t *testing.T, sl *slapdtest.Server, ou string, trust *testTLS, directoryDown bool) *browserWorld {
	t.Helper()
	idpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	spLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &browserWorld{tls: trust, idpURL: "https://" + idpLn.Addr().String(), spURL: "https://" + spLn.Addr().String()}
	ldapURL := sl.URL
	if directoryDown {
		dead, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ldapURL = "ldap://" + dead.Addr().String()
		dead.Close()
	}
	keyFile, certFile := certstest.SigningFiles(t, t.TempDir())
	yaml := fmt.Sprintf(`
server:
  public_url: %[1]q
store:
  backend: memory
branding:
  company_name: %[8]q
  primary_color: "#0b57d0"
  password_help_url: %[9]q
ldap:
  urls: [%[3]q]
  ca_file: %[4]q
  bind_dn: "cn=svc,%[5]s"
  bind_password: "svc-pa$$word"
  user:
    base_dn: %[5]q
  groups:
    required: ["cn=sso,%[5]s"]
oauth:
  clients:
    - name: workplace
      client_id: %[10]q
      client_secret: %[11]q
      profile: workplace
      company: acme
      redirect_uris_allowed: ["%[2]s/oauth/"]
    - name: works
      client_id: %[12]q
      client_secret: %[13]q
      profile: naverworks
      redirect_uris_allowed: ["%[2]s/oauth/"]
saml:
  signing:
    key_file: %[6]q
    cert_file: %[7]q
  service_providers:
    - profile: workplace
      company: acme
      acs_allowed: ["%[2]s/saml/"]
`, w.idpURL, w.spURL, ldapURL, sl.CAFile, ou, keyFile, certFile, brandCompany, w.spURL+helpURLPath,
		spWorkplace, secretWP, spWorks, secretWorks)
	cfg, err := config.Parse(strings.NewReader(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := store.New(memory.New(memory.WithLogger(log)))
	t.Cleanup(func() { st.Close() })
	auth, err := ldapauth.New(cfg.LDAP, ldapauth.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { auth.Close() })
	th, err := buildThrottle(cfg, st, auth, log)
	if err != nil {
		t.Fatal(err)
	}
	protocols, err := buildProtocols(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{
		Config: cfg.Server, Session: cfg.Session, Branding: cfg.Branding, Store: st,
		Authenticator: accountStates{next: auth, states: map[string]idp.AccountState{userJun: idp.StatePasswordExpired}},
		Protocols:     protocols, Logger: log, Throttle: th,
	})
	if err != nil {
		t.Fatal(err)
	}
	serveTLS(t, idpLn, srv.Handler(), trust)
	w.sp = &spSim{idpURL: w.idpURL, spURL: w.spURL, hc: &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: trustConfig(trust)},
	}, saml: map[string]string{}}
	serveTLS(t, spLn, w.sp.handler(), trust)
	return w
}

func serveTLS(t *testing.T, ln net.Listener, h http.Handler, trust *testTLS) {
	ts := httptest.NewUnstartedServer(h)
	ts.Listener.Close()
	ts.Listener = ln
	ts.TLS = trustConfig(trust)
	ts.TLS.Certificates = append(ts.TLS.Certificates, trust.cert)
	ts.StartTLS()
	t.Cleanup(ts.Close)
}

func trustConfig(trust *testTLS) *tls.Config {
	return &tls.Config{RootCAs: trust.pool, MinVersion: tls.VersionTLS12}
}

// spSim is the SP side: WORKPLACE over OAuth (its callback calls the token
// and userinfo APIs) and over SAML (its ACS verifies the Response with
// crewjam/saml against our metadata).
type spSim struct {
	idpURL, spURL string
	hc            *http.Client

	mu   sync.Mutex
	saml map[string]string // RelayState -> AuthnRequest ID
}

const spStateCookie = "sp_state"

func (s *spSim) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth/start", s.oauthStart)
	mux.HandleFunc("GET /oauth/callback", s.oauthCallback)
	mux.HandleFunc("GET /saml/start", s.samlStart)
	mux.HandleFunc("POST /saml/acs", s.samlACS)
	mux.HandleFunc("GET "+helpURLPath, func(w http.ResponseWriter, r *http.Request) {
		spPage(w, http.StatusOK, "password-help", "비밀번호 변경 안내")
	})
	return mux
}

// authorizeURL is the Web Login URL the SP sends the browser to. app adds
// the NAVER WORKS app parameters (userAgent=LineWorks, sessionKey).
func (s *spSim) authorizeURL(client, state string, app bool) string {
	q := url.Values{"response_type": {"code"}, "client_id": {client}}
	if client == spWorks {
		// NAVER WORKS carries its state inside redirect_uri.
		q.Set("redirect_uri", s.spURL+"/oauth/callback?state="+state)
	} else {
		q.Set("redirect_uri", s.spURL+"/oauth/callback")
		q.Set("state", state)
	}
	if app {
		q.Set("userAgent", "LineWorks")
		q.Set("sessionKey", "app-session-key")
	}
	return s.idpURL + "/oauth/authorize?" + q.Encode()
}

func (s *spSim) oauthStart(w http.ResponseWriter, r *http.Request) {
	state := idp.NewID(nil)[:20]
	client := r.URL.Query().Get("client")
	http.SetCookie(w, &http.Cookie{Name: spStateCookie, Value: client + "." + state, Path: "/oauth/", HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, s.authorizeURL(client, state, r.URL.Query().Get("app") == "1"), http.StatusSeeOther)
}

func (s *spSim) oauthCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		spPage(w, http.StatusOK, "sp-error", "error="+e)
		return
	}
	ck, err := r.Cookie(spStateCookie)
	client, state, _ := strings.Cut(valueOr(ck, err), ".")
	if state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(q.Get("state"))) != 1 {
		spPage(w, http.StatusBadRequest, "sp-error", "state mismatch")
		return
	}
	secret := map[string]string{spWorkplace: secretWP, spWorks: secretWorks}[client]
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := s.api(r.Context(), "/oauth/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {client},
		"client_secret": {secret}, "code": {q.Get("code")}}, &tok); err != nil {
		spPage(w, http.StatusBadGateway, "sp-error", "token: "+err.Error())
		return
	}
	var ui map[string]any
	if err := s.api(r.Context(), "/oauth/userinfo", url.Values{"client_id": {client}, "client_secret": {secret},
		"access_token": {tok.AccessToken}}, &ui); err != nil {
		spPage(w, http.StatusBadGateway, "sp-error", "userinfo: "+err.Error())
		return
	}
	user := fmt.Sprint(ui["email_id"])
	if client == spWorks {
		user = fmt.Sprint(ui["user_id"])
	}
	spPage(w, http.StatusOK, "sp-user", user)
}

func valueOr(ck *http.Cookie, err error) string {
	if err != nil {
		return ""
	}
	return ck.Value
}

func (s *spSim) api(ctx context.Context, path string, form url.Values, out any) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.idpURL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
	}
	return json.Unmarshal(body, out)
}

func (s *spSim) samlStart(w http.ResponseWriter, r *http.Request) {
	id := "_sp" + idp.NewID(nil)[:24]
	relay := "rs-" + idp.NewID(nil)[:12]
	s.mu.Lock()
	s.saml[relay] = id
	s.mu.Unlock()
	_, enc := samlAuthnRequest(id, s.spURL+"/saml/acs", "ncpworkplace.com", time.Now())
	q := url.Values{"SAMLRequest": {enc}, "RelayState": {relay}}
	http.Redirect(w, r, s.idpURL+"/saml/sso?"+q.Encode(), http.StatusSeeOther)
}

func (s *spSim) samlACS(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		spPage(w, http.StatusBadRequest, "sp-error", err.Error())
		return
	}
	s.mu.Lock()
	id, ok := s.saml[r.PostFormValue("RelayState")]
	delete(s.saml, r.PostFormValue("RelayState"))
	s.mu.Unlock()
	if !ok {
		spPage(w, http.StatusBadRequest, "sp-error", "unknown RelayState")
		return
	}
	raw, err := base64.StdEncoding.DecodeString(r.PostFormValue("SAMLResponse"))
	if err != nil {
		spPage(w, http.StatusBadRequest, "sp-error", err.Error())
		return
	}
	nameID, err := verifySAMLResponse(r.Context(), s.hc, s.idpURL, raw, "ncpworkplace.com", s.spURL+"/saml/acs", id)
	if err != nil {
		spPage(w, http.StatusForbidden, "sp-error", "SP refused the Response: "+err.Error())
		return
	}
	spPage(w, http.StatusOK, "sp-user", nameID)
}

// spPage is the SP's minimal landing page; the result sits in #id.
func spPage(w http.ResponseWriter, status int, id, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!DOCTYPE html><html lang="ko"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>SP</title></head><body><main><p id=%q>%s</p></main></body></html>`, id, html.EscapeString(text))
}
