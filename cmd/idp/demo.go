package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/config"
	"github.com/ncp-sso/idp/idp/server"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/ldapauth"
	"github.com/ncp-sso/idp/ldapauth/ldapdemo"
	"github.com/ncp-sso/idp/oauthsso"
	"github.com/ncp-sso/idp/saml"
)

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address of the login page (loopback only unless you mean it)")
	ldif := fs.String("ldif", "testdata/demo.ldif", "LDIF file loaded into the embedded demo directory")
	stateDir := fs.String("state-dir", "", "directory for the demo's bbolt state file (default: a new temporary directory, removed on exit)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: idp demo [flags]

Runs the IdP with no setup: an embedded LDAP server on a loopback port, loaded
from an LDIF file, and the login page on --listen. The real LDAP code path
(service-account search, user bind, group check) runs against the embedded
server, so what you see is what a real directory gives. Prints the login URL
and the demo accounts. Ctrl-C stops everything.

Flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	lvl := slog.LevelInfo
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "idp demo: --log-level: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))

	dir, err := ldapdemo.Start(ctx, *ldif, ldapdemo.WithLogger(log))
	if err != nil {
		fmt.Fprintf(stderr, "idp demo: %v\n(run it from the repository root, or pass --ldif)\n", err)
		return 1
	}
	defer dir.Close()

	if *stateDir == "" {
		tmp, err := os.MkdirTemp("", "idp-demo-")
		if err != nil {
			fmt.Fprintf(stderr, "idp demo: %v\n", err)
			return 1
		}
		defer os.RemoveAll(tmp)
		*stateDir = tmp
	}
	cfg, err := demoConfig(dir, *listen, filepath.Join(*stateDir, "idp.db"))
	if err != nil {
		fmt.Fprintf(stderr, "idp demo: %v\n", err)
		return 1
	}
	w, err := build(cfg, log, []server.Link{{Key: "demo_sp_link", URL: "/demo/sp"}})
	if err != nil {
		fmt.Fprintf(stderr, "idp demo: %v\n", err)
		return 1
	}
	defer w.Close()
	sp := &demoSP{
		srv: w.srv, publicURL: cfg.Server.PublicURL, hc: &http.Client{Timeout: 5 * time.Second},
		clientID: cfg.OAuth.Clients[0].ClientID, clientSecret: cfg.OAuth.Clients[0].ClientSecret,
		saml: cfg.SAML != nil,
	}
	sp.register(w.srv.Echo())
	err = listenAndServe(ctx, cfg, log, w, func(_ *wiring, addr net.Addr) {
		printDemoBanner(stdout, cfg.Server.PublicURL, dir)
	})
	if err != nil {
		fmt.Fprintf(stderr, "idp demo: %v\n", err)
		return 1
	}
	return 0
}

// demoConfig is the configuration the demo would have in a file: it goes
// through the same defaults and validation as `idp serve`.
func demoConfig(dir *ldapdemo.Server, listen, dbPath string) (*config.Config, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %q: %w", listen, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	d := dir.Directory()
	serviceDN, servicePW := d.ServiceAccount()
	base := d.BaseDN()
	cfg := &config.Config{}
	cfg.Server.Listen = listen
	cfg.Server.PublicURL = "http://" + net.JoinHostPort(host, port)
	cfg.Branding.CompanyName = "Demo Company"
	cfg.Store.Backend = store.BackendBolt
	cfg.Store.Path = dbPath
	cfg.LDAP = ldapauth.Config{
		URLs: []string{dir.URL()},
		// The embedded directory listens on loopback only.
		InsecureNoTLS: true,
		BindDN:        serviceDN,
		BindPassword:  servicePW,
		User:          ldapauth.UserConfig{BaseDN: "ou=people," + base},
		Groups:        ldapauth.GroupsConfig{Required: []string{"cn=sso-users,ou=groups," + base}},
	}
	f := false
	cfg.LDAP.StartTLS = &f
	// The demo SP plays WORKPLACE from this same origin (over http on
	// loopback, which only the Insecure switch allows).
	cfg.OAuth = &oauthsso.Config{
		InsecureAllowHTTPLoopback: true,
		Clients: []oauthsso.Client{{
			Name: "demo-workplace", DisplayName: "NCP WORKPLACE (demo SP)",
			ClientID: "demo-workplace", ClientSecret: idp.NewID(nil),
			Profile:               oauthsso.ProfileWorkplace,
			RedirectURIsAllowed:   []string{cfg.Server.PublicURL + "/demo/sp/"},
			LogoutRedirectDomains: []string{host},
			SPLogoutURL:           cfg.Server.PublicURL + "/demo/sp",
		}},
	}
	// SAML with a throw-away signing key, and a WORKPLACE SP for a demo
	// company whose ACS the demo SP page plays.
	cfg.SAML = &saml.Config{
		Signing:          saml.SigningConfig{InsecureEphemeralKey: true},
		ServiceProviders: []saml.ServiceProviderConfig{{Profile: saml.ProfileWorkplace, Company: "demo", Name: "NCP WORKPLACE (demo SP)"}},
	}
	cfg.SetDefaults()
	if err := cfg.Validate().Err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func printDemoBanner(w io.Writer, publicURL string, dir *ldapdemo.Server) {
	fmt.Fprintf(w, "\n  idp demo is running.\n\n  Log in at:  %s/login\n\n", publicURL)
	fmt.Fprintf(w, "  Demo directory: %s (base %s), from the LDIF file\n\n", dir.URL(), dir.Directory().BaseDN())
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  username\tpassword\twhat it shows")
	for _, a := range dir.Directory().Accounts() {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", a.Username, a.Password, a.Description)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n  Try %q first. Ctrl-C stops the demo.\n\n", firstAccount(dir))
}

func firstAccount(dir *ldapdemo.Server) string {
	for _, a := range dir.Directory().Accounts() {
		return a.Username + " / " + a.Password
	}
	return ""
}
