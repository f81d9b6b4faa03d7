package saml

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/certs"
	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/server"
	"github.com/ncp-sso/idp/templates"
)

const (
	testPublicURL = "https://sso.example.com"
	testACS       = "https://acme.ncpworkplace.com/authn/saml/acs"
)

// fakeHost is a server.Host for handler tests: real templates, an in-memory
// store, an injectable clock and session.
type fakeHost struct {
	t       *testing.T
	mu      sync.Mutex
	now     time.Time
	rand    io.Reader
	store   *fakeStore
	pages   *templates.Set
	logBuf  *bytes.Buffer
	log     *slog.Logger
	session *idp.Session
	ended   int
	begun   []idp.Flow
	proto   server.Protocol
	// passwords are what PasswordLogin accepts (user -> password); each
	// user signs in as testSession's identity with that Username.
	passwords map[string]string
	checked   []idp.Flow // PasswordLogin calls
}

// PasswordLogin implements server.PasswordChecker.
func (h *fakeHost) PasswordLogin(_ echo.Context, f idp.Flow, user, pass string) (idp.Identity, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checked = append(h.checked, f)
	if want, ok := h.passwords[user]; !ok || want != pass || pass == "" {
		return idp.Identity{}, server.ErrWrongPassword
	}
	id := testSession(h.now).Identity
	id.Username = user
	return id, nil
}

func newFakeHost(t *testing.T) *fakeHost {
	t.Helper()
	pages, err := templates.Load("", templates.Brand{})
	if err != nil {
		t.Fatalf("templates.Load: %v", err)
	}
	buf := &bytes.Buffer{}
	return &fakeHost{
		t: t, now: time.Now(), store: newFakeStore(), pages: pages, logBuf: buf,
		log: slog.New(slog.NewTextHandler(&lockedWriter{w: buf}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (h *fakeHost) BeginFlow(c echo.Context, f idp.Flow) error {
	h.mu.Lock()
	h.begun = append(h.begun, f)
	sess := h.session
	h.mu.Unlock()
	if f.ID == "" {
		f.ID = idp.NewID(nil)
	}
	if sess != nil && !f.ForceAuthn {
		return h.proto.Resume(c, f, *sess)
	}
	if err := h.store.PutFlow(c.Request().Context(), f); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/login?flow="+url.QueryEscape(f.ID))
}

func (h *fakeHost) Session(echo.Context) (idp.Session, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.session == nil {
		return idp.Session{}, false
	}
	return *h.session, true
}

func (h *fakeHost) EndSession(echo.Context) (idp.Session, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ended++
	s := h.session
	h.session = nil
	if s == nil {
		return idp.Session{}, false
	}
	return *s, true
}

// ErrorPage writes a marker the tests match; it also checks that the key
// exists in the message catalog in both languages.
func (h *fakeHost) ErrorPage(c echo.Context, status int, key string) error {
	for _, l := range templates.Languages {
		if h.pages.Messages(l)[key] == "" {
			h.t.Errorf("error page key %q has no %s message", key, l)
		}
	}
	return c.String(status, "ERROR-PAGE "+key)
}

func (h *fakeHost) Render(c echo.Context, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := h.pages.Render(&buf, name, templates.Page{Lang: "ko", Nonce: "test-nonce", Data: data}); err != nil {
		h.t.Errorf("render %s: %v", name, err)
		return err
	}
	return c.HTML(status, buf.String())
}

func (h *fakeHost) Store() idp.Store { return h.store }
func (h *fakeHost) Now() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}
func (h *fakeHost) Rand() io.Reader      { return h.rand }
func (h *fakeHost) Logger() *slog.Logger { return h.log }
func (h *fakeHost) PublicURL() string    { return testPublicURL }

func (h *fakeHost) setNow(t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = t
}

// fakeStore implements the parts of idp.Store the SAML protocol touches.
type fakeStore struct {
	idp.Store // nil: any other method panics, which the tests would see
	mu        sync.Mutex
	flows     map[string]idp.Flow
	seen      map[string]time.Time
}

func newFakeStore() *fakeStore {
	return &fakeStore{flows: map[string]idp.Flow{}, seen: map[string]time.Time{}}
}

func (s *fakeStore) PutFlow(_ context.Context, f idp.Flow) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flows[f.ID] = f
	return nil
}

func (s *fakeStore) TakeFlow(_ context.Context, id string) (idp.Flow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.flows[id]
	if !ok {
		return idp.Flow{}, idp.ErrNotFound
	}
	delete(s.flows, id)
	return f, nil
}

func (s *fakeStore) FirstUse(_ context.Context, ns, id string, exp time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := ns + "\x00" + id
	if _, ok := s.seen[k]; ok {
		return false, nil
	}
	s.seen[k] = exp
	return true, nil
}

// Keys are generated at run time (never committed) and shared by tests.
var (
	keyOnce  sync.Once
	keyPairs [2]*certs.KeyPair
)

func testKeys(t testing.TB) (current, next *certs.KeyPair) {
	t.Helper()
	keyOnce.Do(func() {
		for i := range keyPairs {
			kp, err := certs.Generate(certs.Options{Now: time.Now().Add(-24 * time.Hour), Validity: 3 * 24 * time.Hour, CommonName: fmt.Sprintf("test %d", i)})
			if err != nil {
				panic(err)
			}
			keyPairs[i] = kp
		}
	})
	return keyPairs[0], keyPairs[1]
}

func workplaceConfig() Config {
	return Config{
		Signing: SigningConfig{InsecureEphemeralKey: true},
		ServiceProviders: []ServiceProviderConfig{{
			Profile: ProfileWorkplace, Company: "acme",
			Attributes: map[string]string{"displayName": "displayName"},
		}},
	}
}

type testEnv struct {
	p    *Provider
	h    *fakeHost
	e    *echo.Echo
	kp   *certs.KeyPair
	next *certs.KeyPair
}

func newEnv(t *testing.T, cfg Config, withNext bool) *testEnv {
	t.Helper()
	cur, next := testKeys(t)
	o := Options{Signing: cur}
	if withNext {
		o.NextSigning = next
	}
	p, err := New(cfg, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h := newFakeHost(t)
	h.proto = p
	e := echo.New()
	p.Register(e, h)
	return &testEnv{p: p, h: h, e: e, kp: p.signing, next: next}
}

func (env *testEnv) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	env.e.ServeHTTP(rec, req)
	return rec
}

// authnRequest is a WORKPLACE-style AuthnRequest.
type authnRequest struct {
	ID, Issuer, ACS, IssueInstant, Version, Binding, Extra string
}

func (r authnRequest) xml() string {
	attr := func(name, v string) string {
		if v == "" {
			return ""
		}
		return fmt.Sprintf(" %s=%q", name, v)
	}
	return `<?xml version="1.0" encoding="UTF-8"?>` +
		`<saml2p:AuthnRequest xmlns:saml2p="urn:oasis:names:tc:SAML:2.0:protocol"` +
		attr("AssertionConsumerServiceURL", r.ACS) + attr("ID", r.ID) + attr("IssueInstant", r.IssueInstant) +
		attr("ProtocolBinding", r.Binding) + ` ProviderName="ncpworkplace.com"` + attr("Version", r.Version) + r.Extra + `>` +
		`<saml2:Issuer xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion">` + r.Issuer + `</saml2:Issuer>` +
		`<saml2p:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"/>` +
		`</saml2p:AuthnRequest>`
}

func goodRequest(now time.Time, id string) authnRequest {
	return authnRequest{
		ID: id, Issuer: "ncpworkplace.com", ACS: testACS, Version: "2.0",
		IssueInstant: now.UTC().Format("2006-01-02T15:04:05.000Z"),
		Binding:      "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
	}
}

func deflate(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func redirectReq(t testing.TB, xml, relay string, extra ...string) *http.Request {
	t.Helper()
	q := "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(deflate(t, xml)))
	if relay != "" {
		q += "&RelayState=" + url.QueryEscape(relay)
	}
	for _, x := range extra {
		q += "&" + x
	}
	return httptest.NewRequest(http.MethodGet, PathSSO+"?"+q, nil)
}

func postReq(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, PathSSO, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

// postedForm is what the auto-POST page would send.
type postedForm struct {
	Action, SAMLResponse, RelayState string
	HasRelayState                    bool
	XML                              []byte
}

var (
	formActionRE = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	inputRE      = regexp.MustCompile(`<input type="hidden" name="(SAMLResponse|RelayState)" value="([^"]*)">`)
)

func parsePostPage(t testing.TB, body string) postedForm {
	t.Helper()
	m := formActionRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no auto-POST form in page:\n%s", body)
	}
	f := postedForm{Action: html.UnescapeString(m[1])}
	for _, in := range inputRE.FindAllStringSubmatch(body, -1) {
		v := html.UnescapeString(in[2])
		if in[1] == "SAMLResponse" {
			f.SAMLResponse = v
		} else {
			f.RelayState, f.HasRelayState = v, true
		}
	}
	x, err := base64.StdEncoding.DecodeString(f.SAMLResponse)
	if err != nil {
		t.Fatalf("SAMLResponse is not Base64: %v", err)
	}
	f.XML = x
	return f
}

// takeBegun returns the one Flow BeginFlow received.
func (h *fakeHost) takeBegun(t *testing.T) idp.Flow {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.begun) != 1 {
		t.Fatalf("BeginFlow called %d times, want 1", len(h.begun))
	}
	f := h.begun[0]
	h.begun = nil
	return f
}

// xmlsec1 runs the independent verifier with only the given certificate.
// KeyInfo is ignored (--enabled-key-data rsa) so the embedded certificate
// cannot vouch for itself.
// peerTool is the path of an independent tool a test checks our output
// with: missing, it fails the test in CI (or with IDP_REQUIRE_PEERS) and
// skips it elsewhere.
func peerTool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" || os.Getenv("IDP_REQUIRE_PEERS") != "" {
			t.Fatalf("%s is required in CI (apt-get install %s): %v", name, debianPackage, err)
		}
		t.Skip(name + " not installed")
	}
	return bin
}

func xmlsec1Verify(t *testing.T, doc, certPEM []byte, nodeXPath string) error {
	t.Helper()
	bin := peerTool(t, "xmlsec1", "xmlsec1")
	dir := t.TempDir()
	docFile, certFile := filepath.Join(dir, "doc.xml"), filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(docFile, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--verify", "--enabled-key-data", "rsa", "--pubkey-cert-pem", certFile,
		"--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:Response",
		"--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"}
	if nodeXPath != "" {
		args = append(args, "--node-xpath", nodeXPath)
	}
	out, err := exec.Command(bin, append(args, docFile)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("xmlsec1: %v: %s", err, out)
	}
	return nil
}

const assertionSigXPath = "//*[local-name()='Assertion']/*[local-name()='Signature']"
const responseSigXPath = "/*[local-name()='Response']/*[local-name()='Signature']"

type httptestRecorder = httptest.ResponseRecorder

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func regexpReplace(s, expr, repl string) string {
	return regexp.MustCompile(expr).ReplaceAllString(s, repl)
}

// xmlMarshal serialises an etree element or an xml.Marshaler value.
func xmlMarshal(v any) ([]byte, error) {
	if el, ok := v.(*etree.Element); ok {
		d := etree.NewDocument()
		d.SetRoot(el)
		return d.WriteToBytes()
	}
	return xml.Marshal(v)
}

func flowOf(payload []byte) idp.Flow {
	return idp.Flow{ID: "f", Protocol: ProtocolName, Payload: payload}
}
