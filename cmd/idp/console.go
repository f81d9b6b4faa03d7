package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ncp-sso/idp/certs"
	"github.com/ncp-sso/idp/idp/config"
	"github.com/ncp-sso/idp/oauthsso"
	"github.com/ncp-sso/idp/saml"
)

// Console values: exactly what the admin pastes into the WORKPLACE / NAVER
// WORKS Developers console, per configured SP and mode. The JSON form is a
// stable contract for scripts (documented in the README).

type consoleOut struct {
	PublicURL        string      `json:"public_url"`
	Warnings         []string    `json:"warnings"`
	ServiceProviders []consoleSP `json:"service_providers"`
}

type consoleSP struct {
	Name    string         `json:"name"`
	Mode    string         `json:"mode"` // "oauth" or "saml"
	Profile string         `json:"profile"`
	Fields  []consoleField `json:"fields"`
}

type consoleField struct {
	Key     string `json:"key"`
	LabelEN string `json:"label_en"`
	LabelKO string `json:"label_ko"`
	Value   string `json:"value"`
	Note    string `json:"note,omitempty"`
}

func cmdConsole(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("console", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "path to the YAML configuration file (required)")
	asJSON := fs.Bool("json", false, "print one JSON object (fields documented in the README)")
	showSecrets := fs.Bool("show-secrets", false, "also print OAuth client secrets (they are otherwise never printed)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: idp console --config FILE [--json] [--show-secrets]

Prints, for every configured SP and SSO mode, exactly what goes into each field
of the NCP WORKPLACE / NAVER WORKS Developers console (Web Login URL, token and
userinfo APIs, Logout URL, Client ID, IdP Issuer, the certificate file to
upload with its SHA-256 fingerprint and expiry). URLs are built from
server.public_url; a warning is printed when it is not https on port 443,
because the SP refuses anything else. Secrets are never printed unless
--show-secrets is given; their source (file, environment) is shown instead.

Flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if *path == "" {
		fmt.Fprintln(stderr, "idp console: --config FILE is required")
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "idp console: %s: %v\n", *path, err)
		return 1
	}
	out, err := consoleValues(cfg, *showSecrets, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "idp console: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
		return 0
	}
	printConsole(stdout, out)
	return 0
}

func consoleValues(cfg *config.Config, showSecrets bool, now time.Time) (*consoleOut, error) {
	pub := cfg.Server.PublicURL
	out := &consoleOut{PublicURL: pub, Warnings: []string{}, ServiceProviders: []consoleSP{}}
	if u, err := url.Parse(pub); err == nil {
		port := u.Port()
		if u.Scheme != "https" || (port != "" && port != "443") {
			out.Warnings = append(out.Warnings, "server.public_url is "+pub+": NCP WORKPLACE / NAVER WORKS accept only https on port 443 / SP는 443 포트의 https 주소만 받습니다")
		}
		if h := u.Hostname(); h == "localhost" || net.ParseIP(h) != nil && net.ParseIP(h).IsLoopback() {
			out.Warnings = append(out.Warnings, "server.public_url points at this machine only ("+h+"): employees' browsers cannot reach it / 이 주소는 이 서버 자신만 가리킵니다")
		}
	}
	if cfg.OAuth != nil {
		ep := oauthsso.Endpoints(pub)
		for i, cl := range cfg.OAuth.Clients {
			secret := "(hash only: the console needs the original secret you generated)"
			if cl.ClientSecret != "" {
				key := "oauth.clients[" + strconv.Itoa(i) + "].client_secret"
				switch src := cfg.Sources[key]; {
				case showSecrets:
					secret = cl.ClientSecret
				case strings.HasPrefix(src, "file:"):
					secret = "(not shown) from file " + strings.TrimPrefix(src, "file:")
				case strings.HasPrefix(src, "env:"):
					secret = "(not shown) from environment variable " + strings.TrimPrefix(src, "env:")
				default:
					secret = "(not shown) written in the config file at " + key
				}
			}
			out.ServiceProviders = append(out.ServiceProviders, consoleSP{
				Name: cl.Name, Mode: "oauth", Profile: cl.Profile,
				Fields: []consoleField{
					{"web_login_url", "Web Login URL", "웹 로그인 URL", ep.WebLoginURL, ""},
					{"app_login_url", "Application Login URL", "애플리케이션 로그인 URL", ep.AppLoginURL, "NAVER WORKS"},
					{"access_token_api", "Access Token Return API", "Access Token 반환 API", ep.AccessTokenAPI, ""},
					{"userinfo_api", "User info return API", "사용자 정보 반환 API", ep.UserinfoAPI, ""},
					{"logout_url", "Logout URL", "로그아웃 URL", ep.LogoutURL, ""},
					{"client_id", "Client ID", "Client ID", cl.ClientID, ""},
					{"client_secret", "Client Secret", "Client Secret", secret, ""},
				},
			})
		}
	}
	if cfg.SAML != nil {
		entityID := cfg.SAML.EntityID
		if entityID == "" {
			entityID = pub + saml.PathMetadata
		}
		certField := consoleField{"certificate_file", "Certificate File (.pem)", "인증서 파일(.pem)", cfg.SAML.Signing.CertFile, ""}
		if cfg.SAML.Signing.UseNext {
			certField.Value = cfg.SAML.Signing.NextCertFile
		}
		var fp, exp consoleField
		if certField.Value != "" {
			c, err := certs.LoadCertificate(certField.Value)
			if err != nil {
				return nil, fmt.Errorf("saml certificate: %w", err)
			}
			fp = consoleField{"certificate_sha256", "Certificate SHA-256", "인증서 SHA-256 지문", certs.Fingerprint(c), ""}
			days := int(c.NotAfter.Sub(now).Hours() / 24)
			exp = consoleField{"certificate_not_after", "Certificate expires", "인증서 만료", c.NotAfter.UTC().Format(time.RFC3339), fmt.Sprintf("%d days left", days)}
			if days < 30 {
				out.Warnings = append(out.Warnings, fmt.Sprintf("the SAML certificate expires in %d days: plan the rollover (README) / SAML 인증서가 %d일 뒤 만료됩니다", days, days))
			}
		} else {
			certField.Value = "(none: insecure_ephemeral_key is set; generate one with idp keygen)"
		}
		for _, sp := range cfg.SAML.ServiceProviders {
			fields := []consoleField{
				{"web_login_url", "Web Login URL", "웹 로그인 URL", pub + saml.PathSSO, ""},
				{"app_login_url", "Application Login URL", "애플리케이션 로그인 URL", pub + saml.PathSSO, "NAVER WORKS"},
				{"logout_url", "Logout URL", "로그아웃 URL", pub + saml.PathLogout, ""},
				{"idp_issuer", "IdP Issuer", "IdP Issuer", entityID, ""},
				certField,
			}
			if fp.Key != "" {
				fields = append(fields, fp, exp)
			}
			if len(sp.LoginAPIFrom) > 0 {
				fields = append(fields, consoleField{"login_api_url", "IMAP/CalDAV login API", "IMAP/CalDAV 로그인 API", pub + saml.PathLoginAPI, "NAVER WORKS"})
			}
			out.ServiceProviders = append(out.ServiceProviders, consoleSP{Name: sp.Name, Mode: "saml", Profile: sp.Profile, Fields: fields})
		}
	}
	return out, nil
}

func printConsole(w io.Writer, out *consoleOut) {
	for _, warn := range out.Warnings {
		fmt.Fprintf(w, "⚠ %s\n", warn)
	}
	if len(out.ServiceProviders) == 0 {
		fmt.Fprintln(w, "No SSO mode is configured: add an oauth: or saml: section (see idp.example.yaml).")
		return
	}
	for _, sp := range out.ServiceProviders {
		mode := "OAuth 2.0"
		if sp.Mode == "saml" {
			mode = "SAML 2.0"
		}
		fmt.Fprintf(w, "\n%s — %s (profile %s)\n", sp.Name, mode, sp.Profile)
		for _, f := range sp.Fields {
			note := ""
			if f.Note != "" {
				note = "  (" + f.Note + ")"
			}
			fmt.Fprintf(w, "  %s / %s:\n      %s%s\n", f.LabelEN, f.LabelKO, f.Value, note)
		}
	}
}
