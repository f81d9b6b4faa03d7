package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncp-sso/idp/certs/certstest"
	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/ldapauth/slapdtest"
)

// haCluster is the high-availability setup with real processes: the idp
// binary running twice on different ports, one shared state store (Redis or
// a Sentinel group), one slapd, and SAML key files both instances read.
type haCluster struct {
	t         *testing.T
	bin       string
	sl        *slapdtest.Server
	ou        string
	storeYAML string
	keyFile   string
	certFile  string
	dir       string
	bases     []string
	procs     []*idpProcess
}

// haPublicURL is what the load balancer would publish; plain http on the
// loopback host so that the test's cookie jar sends the session cookie to
// every instance (cookies ignore the port), as a browser behind one
// hostname does.
const haPublicURL = "http://127.0.0.1"

// The load accounts ha0 … ha7 (mail haN@example.test), members of cn=ha.
const (
	haUsers    = 8
	haPassword = "Ha!234567"
)

// startHACluster builds the binary and starts n instances on storeYAML
// (the body of the `store:` section).
func startHACluster(t *testing.T, n int, storeYAML string) *haCluster {
	t.Helper()
	c := &haCluster{t: t, storeYAML: storeYAML, dir: t.TempDir()}
	c.sl, c.ou = secDirectory(t)
	// One account per load worker: the login throttle counts attempts in
	// flight per account, and employees sign in as themselves.
	var ldif strings.Builder
	members := ""
	for i := range haUsers {
		fmt.Fprintf(&ldif, "dn: uid=ha%d,%s\nobjectClass: inetOrgPerson\nuid: ha%d\ncn: HA %d\nsn: HA\nmail: ha%d@example.test\nuserPassword: %s\n\n",
			i, c.ou, i, i, i, haPassword)
		members += fmt.Sprintf("member: uid=ha%d,%s\n", i, c.ou)
	}
	fmt.Fprintf(&ldif, "dn: cn=ha,%s\nobjectClass: groupOfNames\ncn: ha\n%s", c.ou, members)
	c.sl.AddLDIF(t, ldif.String())
	c.keyFile, c.certFile = certstest.SigningFiles(t, c.dir)
	c.bin = idpBinary(t)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		p := startProcess(t, c.bin, c.writeConfig(i, addr))
		base := "http://" + addr
		waitHealthy(t, base, p)
		c.bases = append(c.bases, base)
		c.procs = append(c.procs, p)
	}
	for i := range n {
		c.waitReady(i, true)
	}
	return c
}

func (c *haCluster) writeConfig(i int, listen string) string {
	y := fmt.Sprintf(`server:
  listen: %q
  public_url: %q
log:
  level: error
store:
%s
ldap:
  urls: [%q]
  ca_file: %q
  bind_dn: "cn=svc,%s"
  bind_password: "svc-pa$$word"
  user:
    base_dn: %q
  groups:
    required: ["cn=sso,%s", "cn=ha,%s"]
oauth:
  clients:
    - name: workplace
      client_id: %s
      client_secret: %q
      profile: workplace
      company: acme
    - name: works
      client_id: %s
      client_secret: %q
      profile: naverworks
saml:
  signing:
    key_file: %q
    cert_file: %q
  service_providers:
    - profile: workplace
      company: acme
`, listen, haPublicURL, c.storeYAML, c.sl.URL, c.sl.CAFile, c.ou, c.ou, c.ou, c.ou,
		wpClientID, wpClientSecret, nwClientID, nwSecret, c.keyFile, c.certFile)
	f := filepath.Join(c.dir, fmt.Sprintf("idp%d.yaml", i))
	if err := os.WriteFile(f, []byte(y), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return f
}

// ready reports /readyz of instance i.
func (c *haCluster) ready(i int) bool {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(c.bases[i] + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitReady waits until /readyz of instance i says want.
func (c *haCluster) waitReady(i int, want bool) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for c.ready(i) != want {
		if time.Now().After(deadline) {
			c.t.Fatalf("instance %d: /readyz never became %v\n%s", i, want, c.procs[i].stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// alive fails the test when instance i has exited.
func (c *haCluster) alive(i int) {
	c.t.Helper()
	select {
	case err := <-c.procs[i].done:
		c.t.Fatalf("instance %d exited: %v\n%s", i, err, c.procs[i].stderr.String())
	default:
	}
}

// stepError is a journey step that did not get the answer it needed.
type stepError struct {
	step   string
	status int   // HTTP status, 0 when the request itself failed
	err    error // transport error (connection refused, reset)
	body   string
}

func (e *stepError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("%s: %v", e.step, e.err)
	}
	return fmt.Sprintf("%s: HTTP %d: %.300s", e.step, e.status, e.body)
}

// transport reports whether err is a request that never got an answer
// (the instance was dead or died during it).
func transport(err error) bool {
	var se *stepError
	return errors.As(err, &se) && se.err != nil
}

// journey is one fresh browser (its own cookie jar) whose every step goes to
// the instance route picks for it.
type journey struct {
	t                    testing.TB
	c                    *http.Client
	route                func(step int) string
	user, password, mail string
}

// newJourney is a journey of the fixture's main account (secUser).
func newJourney(t testing.TB, route func(step int) string) *journey {
	jar, _ := cookiejar.New(nil)
	return &journey{t: t, route: route, user: secUser, password: secPassword, mail: secMail, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends one request of step n; want is the status that lets the journey go on.
func (j *journey) do(n int, name, method, path string, form url.Values, want int) (*http.Response, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, j.route(n)+path, body)
	if err != nil {
		return nil, "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := j.c.Do(req)
	if err != nil {
		return nil, "", &stepError{step: name, err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		// The answer was cut off: its instance died while sending it.
		return resp, string(b), &stepError{step: name, err: err}
	}
	if resp.StatusCode != want {
		return resp, string(b), &stepError{step: name, status: resp.StatusCode, body: string(b)}
	}
	return resp, string(b), nil
}

// requestURI keeps the path and query of a Location, so that the next
// step can go to any instance (the public URL is the balancer's).
func requestURI(loc string) string {
	u, err := url.Parse(loc)
	if err != nil {
		return loc
	}
	return u.RequestURI()
}

// start sends the SP's login request at step 0, which the IdP must answer
// with the login form of a new pending request (the form itself, not a
// redirect to it), and returns the page and the form's own URL
// (/login?flow=ID), so that the next step may fetch it again at another
// instance.
func (j *journey) start(name, uri string) (page, flowURL string, err error) {
	resp, page, err := j.do(0, name, http.MethodGet, uri, nil, http.StatusOK)
	if err != nil {
		return "", "", err
	}
	if flowURL = parkedFlowURL(resp, []byte(page)); flowURL == "" {
		return "", "", &stepError{step: name, status: resp.StatusCode, body: "not the login form of a pending request: " + page}
	}
	return page, flowURL, nil
}

// login fetches the login page of step n and posts the password at step n+1.
func (j *journey) login(n int, loc string, want int) (*http.Response, string, error) {
	form, err := j.loginForm(n, loc)
	if err != nil {
		return nil, "", err
	}
	return j.do(n+1, "login", http.MethodPost, "/login", form, want)
}

// loginForm fetches the login page at step n and fills in the form.
func (j *journey) loginForm(n int, loc string) (url.Values, error) {
	_, page, err := j.do(n, "login page", http.MethodGet, requestURI(loc), nil, http.StatusOK)
	if err != nil {
		return nil, err
	}
	form := hiddenFields([]byte(page))
	form.Set("username", j.user)
	form.Set("password", j.password)
	return form, nil
}

// oauth runs WORKPLACE's OAuth journey: login request (step 0), login page
// and password (1, 2), token (3), userinfo (4). It returns the code and
// access token.
func (j *journey) oauth() (code, token string, err error) {
	_, loc, err := j.start("authorize", authorizeURL(wpClientID, wpCallback, "st"))
	if err != nil {
		return "", "", err
	}
	resp, _, err := j.login(1, loc, http.StatusSeeOther)
	if err != nil {
		return "", "", err
	}
	cb, _ := url.Parse(resp.Header.Get("Location"))
	if e := cb.Query().Get("error"); e != "" && strings.HasPrefix(resp.Header.Get("Location"), wpCallback) {
		// The login was taken but the answer could not be made: OAuth
		// sends the error to the SP's callback (RFC 6749 §4.1.2.1).
		return "", "", &stepError{step: "sp error " + e, status: resp.StatusCode, body: resp.Header.Get("Location")}
	}
	if code = cb.Query().Get("code"); code == "" || !strings.HasPrefix(resp.Header.Get("Location"), wpCallback) {
		return "", "", &stepError{step: "login", status: resp.StatusCode, body: "no code in " + resp.Header.Get("Location")}
	}
	_, body, err := j.do(3, "token", http.MethodPost, "/oauth/token", tokenForm(wpClientID, wpClientSecret, code, ""), http.StatusOK)
	if err != nil {
		return code, "", err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal([]byte(body), &tok) != nil || tok.AccessToken == "" {
		return code, "", &stepError{step: "token", status: http.StatusOK, body: body}
	}
	return code, tok.AccessToken, j.userinfo(4, tok.AccessToken)
}

// userinfo calls the userinfo API at step n and checks the mail.
func (j *journey) userinfo(n int, token string) error {
	_, body, err := j.do(n, "userinfo", http.MethodPost, "/oauth/userinfo",
		url.Values{"client_id": {wpClientID}, "client_secret": {wpClientSecret}, "access_token": {token}}, http.StatusOK)
	if err == nil && !strings.Contains(body, j.mail) {
		err = &stepError{step: "userinfo", status: http.StatusOK, body: body}
	}
	return err
}

var haRequestSeq atomic.Int64

// newRequestID is a fresh AuthnRequest ID.
func newRequestID() string {
	return fmt.Sprintf("_ha%d_%s", haRequestSeq.Add(1), idp.NewID(nil)[:16])
}

// saml runs WORKPLACE's SAML journey: AuthnRequest (step 0), login page
// and password (1, 2); it returns the decoded Response.
func (j *journey) saml(id string) ([]byte, error) {
	q := url.Values{"SAMLRequest": {workplaceAuthnRequestTB(j.t, id, acmeACS)}, "RelayState": {"r"}}
	_, loc, err := j.start("saml sso", "/saml/sso?"+q.Encode())
	if err != nil {
		return nil, err
	}
	_, body, err := j.login(1, loc, http.StatusOK)
	if err != nil {
		return nil, err
	}
	raw, err := samlResponseOf(body)
	if err == nil && !(bytes.Contains(raw, []byte("urn:oasis:names:tc:SAML:2.0:status:Success")) && bytes.Contains(raw, []byte(j.mail))) {
		err = &stepError{step: "saml response", status: http.StatusOK, body: string(raw)}
	}
	return raw, err
}

// as makes the journey sign in as load account i.
func (j *journey) as(i int) *journey {
	j.user, j.password, j.mail = fmt.Sprintf("ha%d", i), haPassword, fmt.Sprintf("ha%d@example.test", i)
	return j
}

// samlResponseOf decodes the SAMLResponse of an auto-POST page.
func samlResponseOf(page string) ([]byte, error) {
	p, err := parseSAMLPost([]byte(page))
	if err != nil {
		return nil, &stepError{step: "saml response", status: http.StatusOK, body: page}
	}
	return p.Response, nil
}
