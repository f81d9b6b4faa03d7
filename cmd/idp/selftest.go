package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ncp-sso/idp/idp/config"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/oauthsso/spsim"
)

// stdin is where --password-stdin reads; tests replace it.
var stdin io.Reader = os.Stdin

// spBudget is how long NCP WORKPLACE / NAVER WORKS wait for the token and
// userinfo APIs (1 s to connect, 3 s to read).
const spBudget = 3 * time.Second

func cmdSelftest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("selftest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "path to the YAML configuration file (required)")
	user := fs.String("user", "", "directory user to sign in as (required)")
	pwStdin := fs.Bool("password-stdin", false, "read the user's password from the first line of standard input")
	timeout := fs.Duration("timeout", 30*time.Second, "upper bound for the whole self-test")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: idp selftest --config FILE --user NAME --password-stdin

The preflight before switching SSO on in the SP console. Starts a temporary
IdP from FILE (same directory, keys and SP settings; a throw-away in-memory
store, so a running instance is not disturbed) on a loopback port, then plays
each configured SP exactly as NCP WORKPLACE / NAVER WORKS would:
  OAuth: login URL → login form → code → token API → userinfo API
  SAML:  AuthnRequest → login form → Response, checked by a real SAML SP
         library against the published metadata (signatures with the
         certificate you upload, audience, recipient, InResponseTo, times)
Each step is printed with its time (the SP allows 3 s for token and userinfo),
ending with the value the SP will receive. Exit status 1 if any step fails.

  echo "$PASSWORD" | idp selftest --config /etc/idp/idp.yaml --user hong --password-stdin

Flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if *path == "" || *user == "" {
		fmt.Fprintln(stderr, "idp selftest: --config FILE and --user NAME are required")
		return 2
	}
	if !*pwStdin {
		fmt.Fprintln(stderr, "idp selftest: give the password on standard input with --password-stdin (never as a flag: flags are visible to every user in ps)")
		return 2
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintf(stderr, "idp selftest: reading the password: %v\n", err)
		return 2
	}
	password := strings.TrimRight(line, "\r\n")
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "idp selftest: %s: %v\n", *path, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if !selftest(ctx, cfg, *user, password, stdout) {
		return 1
	}
	return 0
}

// selftest reports whether every configured SP completed its journey.
func selftest(ctx context.Context, cfg *config.Config, user, password string, w io.Writer) bool {
	cfg.Store = store.Config{Backend: store.BackendMemory}
	cfg.Store.SetDefaults()
	// The temporary IdP's sign-ins are a test: not for the SIEM's audit file.
	cfg.Audit.File = ""
	wr, err := build(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		fmt.Fprintf(w, "✗ starting a temporary IdP from the configuration: %v\n", err)
		return false
	}
	defer wr.Close()
	// TLS, so that the Secure session cookie behaves as in production.
	ts := httptest.NewUnstartedServer(wr.srv.Handler())
	ts.StartTLS()
	defer ts.Close()
	fmt.Fprintf(w, "Self-test: a temporary IdP on %s plays the configured SPs as user %q.\n", ts.URL, user)
	ok := true
	ran := 0
	if cfg.OAuth != nil {
		for _, cl := range cfg.OAuth.Clients {
			ran++
			ok = selftestOAuth(ctx, ts, cl.Name, cl.ClientID, cl.ClientSecret, cl.Profile, cl.RedirectURIsAllowed, user, password, w) && ok
		}
	}
	if cfg.SAML != nil {
		for _, sp := range cfg.SAML.ServiceProviders {
			acs := sp.DefaultACS
			if acs == "" && len(sp.ACSAllowed) > 0 {
				acs = sp.ACSAllowed[0]
				if strings.HasSuffix(acs, "/") {
					acs += "selftest/acs"
				}
			}
			ran++
			ok = selftestSAML(ctx, ts, sp.Name, sp.EntityID, acs, user, password, w) && ok
		}
	}
	if ran == 0 {
		fmt.Fprintln(w, "✗ no SSO mode is configured: add an oauth: or saml: section")
		return false
	}
	if ok {
		fmt.Fprintln(w, "\nAll SPs completed their login. It is safe to switch SSO on in the console with the values from 'idp console'.")
	} else {
		fmt.Fprintln(w, "\nSome SP could not complete its login: do NOT switch SSO on yet; fix the ✗ steps above.")
	}
	return ok
}

func browserFor(ts *httptest.Server) *http.Client {
	hc := ts.Client()
	jar, _ := cookiejar.New(nil)
	hc.Jar = jar
	return hc
}

func step(w io.Writer, ok bool, name string, d time.Duration, detail string) {
	mark := "✓"
	if !ok {
		mark = "✗"
	}
	fmt.Fprintf(w, "  %s %-22s %7.1f ms  %s\n", mark, name, float64(d.Microseconds())/1000, detail)
}

func selftestOAuth(ctx context.Context, ts *httptest.Server, name, clientID, secret, profile string, allowed []string, user, password string, w io.Writer) bool {
	fmt.Fprintf(w, "\n[%s] OAuth 2.0 (profile %s)\n", name, profile)
	if secret == "" {
		fmt.Fprintln(w, "  ✗ the client secret is stored only as a hash: the self-test needs the secret itself (client_secret_file)")
		return false
	}
	if len(allowed) == 0 {
		fmt.Fprintln(w, "  ✗ no redirect_uris_allowed for this client")
		return false
	}
	callback := strings.TrimSuffix(allowed[0], "/") + "/selftest/callback"
	res, err := spsim.Run(ctx, spsim.Config{
		HTTPClient: browserFor(ts), IdPURL: ts.URL, ClientID: clientID, ClientSecret: secret,
		CallbackURL: callback, Profile: profile, Username: user, Password: password,
	})
	ok := err == nil
	for _, s := range res.Steps {
		detail := fmt.Sprintf("HTTP %d", s.Status)
		if s.Status == 0 {
			detail = "code arrives at the SP's redirect_uri"
		}
		good := s.Status < 400
		if s.Name == "token" || s.Name == "userinfo" {
			detail += fmt.Sprintf(" (SP budget %s)", spBudget)
			good = good && s.Duration < spBudget
			ok = ok && good
		}
		step(w, good, s.Name, s.Duration, detail)
	}
	if err != nil {
		fmt.Fprintf(w, "  ✗ %s\n", explainSpsim(err))
		return false
	}
	fmt.Fprintf(w, "  → the SP receives %s = %s\n", userinfoField(profile), res.UserID)
	return ok
}

func userinfoField(profile string) string {
	if profile == "naverworks" {
		return "user_id"
	}
	return "email_id"
}

func explainSpsim(err error) string {
	var ce *spsim.CallbackError
	switch {
	case errors.Is(err, spsim.ErrLoginFailed):
		return "the login form refused the username or password (or the user is unknown): check --user and the directory with 'idp ldap test'"
	case errors.As(err, &ce) && ce.Code == "access_denied":
		return "the user signed in but may not use SSO (ldap.groups.required): add them to an allowed group"
	}
	return err.Error()
}

func selftestSAML(ctx context.Context, ts *httptest.Server, name, spEntityID, acs, user, password string, w io.Writer) bool {
	fmt.Fprintf(w, "\n[%s] SAML 2.0 (SP %s, ACS %s)\n", name, spEntityID, acs)
	if acs == "" {
		fmt.Fprintln(w, "  ✗ no ACS URL known for this SP: set default_acs")
		return false
	}
	hc := browserFor(ts)
	var rb [16]byte
	_, _ = rand.Read(rb[:])
	id := "_selftest" + hex.EncodeToString(rb[:])
	_, encoded := samlAuthnRequest(id, acs, spEntityID, time.Now())
	relay := "selftest-" + id[9:17]
	start := time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/saml/sso?"+url.Values{"SAMLRequest": {encoded}, "RelayState": {relay}}.Encode(), nil)
	resp, page, err := doRead(hc, req)
	if err != nil || !parkedForLogin(resp, page) {
		step(w, false, "AuthnRequest", time.Since(start), fmt.Sprintf("expected the login form, got %v", statusOrErr(resp, err)))
		return false
	}
	step(w, true, "AuthnRequest", time.Since(start), "→ login form")
	start = time.Now()
	resp, body, err := fillLoginForm(ctx, hc, ts.URL, page, user, password)
	if err != nil || resp.StatusCode != http.StatusOK {
		step(w, false, "login", time.Since(start), fmt.Sprintf("%v: the username or password was refused, or the user may not sign in: check with 'idp ldap test'", statusOrErr(resp, err)))
		return false
	}
	post, err := parseSAMLPost(body)
	if err != nil || post.Action != acs || post.RelayState != relay {
		step(w, false, "login", time.Since(start), fmt.Sprintf("the answer is not an auto-POST to the ACS with the RelayState (%v)", err))
		return false
	}
	step(w, true, "login + signed Response", time.Since(start), "auto-POST to "+post.Action)
	start = time.Now()
	nameID, err := verifySAMLResponse(ctx, hc, ts.URL, post.Response, spEntityID, acs, id)
	if err != nil {
		step(w, false, "SP checks Response", time.Since(start), err.Error())
		return false
	}
	step(w, true, "SP checks Response", time.Since(start), "signatures, audience, recipient, InResponseTo, times")
	fmt.Fprintf(w, "  → the SP receives NameID = %s\n", nameID)
	return true
}

func statusOrErr(resp *http.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("HTTP %d", resp.StatusCode)
}
