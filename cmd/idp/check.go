package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/ncp-sso/idp/certs"
	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/config"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/ldapauth"
)

// checkResult is one line of the checklist.
type checkResult struct {
	ok, warn bool
	what     string
	detail   string
	fix      string
}

// expiryWarning is how close to expiry a certificate gets a warning.
const expiryWarning = 30 * 24 * time.Hour

func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "path to the YAML configuration file (required)")
	timeout := fs.Duration("timeout", 10*time.Second, "upper bound for each network check")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: idp check --config FILE [--timeout 10s]

Validates the configuration, then checks the live dependencies without
logging anyone in: each LDAP server (reachable, TLS verified, service-account
bind), the SAML signing key and certificate (they match, days left), the TLS
serving certificate, and that the state store's directory is writable.
Prints a checklist with ✓ / ⚠ / ✗ and a fix for each ✗. A certificate that
expires within 30 days is a warning. Exit status 1 on any ✗, else 0.

Flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if *path == "" {
		fmt.Fprintln(stderr, "idp check: --config FILE is required")
		return 2
	}
	results := runChecks(ctx, *path, *timeout, time.Now())
	failed := 0
	for _, r := range results {
		mark := "✓"
		switch {
		case !r.ok:
			mark = "✗"
			failed++
		case r.warn:
			mark = "⚠"
		}
		fmt.Fprintf(stdout, "%s %s", mark, r.what)
		if r.detail != "" {
			fmt.Fprintf(stdout, ": %s", r.detail)
		}
		fmt.Fprintln(stdout)
		if r.fix != "" && (!r.ok || r.warn) {
			fmt.Fprintf(stdout, "    → %s\n", r.fix)
		}
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "\n%d check(s) failed.\n", failed)
		return 1
	}
	fmt.Fprintln(stdout, "\nAll checks passed.")
	return 0
}

func runChecks(ctx context.Context, path string, timeout time.Duration, now time.Time) []checkResult {
	cfg, err := config.Load(path)
	if err != nil {
		var ps idp.Problems
		if errors.As(err, &ps) {
			out := []checkResult{{what: "configuration " + path, detail: fmt.Sprintf("%d problem(s)", len(ps))}}
			for _, p := range ps {
				out = append(out, checkResult{what: p.Key, detail: p.Msg, fix: "edit " + path})
			}
			return out
		}
		return []checkResult{{what: "configuration " + path, detail: err.Error(), fix: "start from idp.example.yaml"}}
	}
	out := []checkResult{{ok: true, what: "configuration " + path, detail: "valid"}}
	return append(out, liveChecks(ctx, cfg, timeout, now)...)
}

// liveChecks checks the live dependencies of a valid configuration (also
// run by the admin page).
func liveChecks(ctx context.Context, cfg *config.Config, timeout time.Duration, now time.Time) []checkResult {
	out := checkLDAP(ctx, cfg, timeout)
	if cfg.SAML != nil {
		out = append(out, checkSAMLKeys(cfg, now)...)
	}
	if cfg.Server.TLS.Enabled() {
		out = append(out, checkServingCert(cfg, now))
	}
	out = append(out, checkStore(cfg))
	return out
}

// checkLDAP binds as the service account on each server separately, so a
// dead second domain controller is found before the first one fails.
func checkLDAP(ctx context.Context, cfg *config.Config, timeout time.Duration) []checkResult {
	var out []checkResult
	for _, u := range cfg.LDAP.URLs {
		one := cfg.LDAP
		one.URLs = []string{u}
		r := checkResult{what: "LDAP " + u}
		a, err := ldapauth.New(one, ldapauth.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		if err == nil {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			start := time.Now()
			err = a.Check(cctx)
			cancel()
			a.Close()
			r.detail = fmt.Sprintf("service bind as %q in %d ms", one.BindDN, time.Since(start).Milliseconds())
		}
		if err != nil {
			r.detail = err.Error()
			r.fix = "check the host and port are reachable from here, that ldap.ca_file holds the CA that signed the server's certificate, and ldap.bind_dn / bind_password; 'idp ldap test' shows each step"
		} else {
			r.ok = true
		}
		out = append(out, r)
	}
	return out
}

func checkSAMLKeys(cfg *config.Config, now time.Time) []checkResult {
	s := cfg.SAML.Signing
	if s.InsecureEphemeralKey {
		return []checkResult{{ok: true, warn: true, what: "SAML signing key", detail: "insecure_ephemeral_key: a new key at every start, SPs cannot keep trusting it", fix: "idp keygen --out /etc/idp/saml, then set saml.signing.key_file and cert_file"}}
	}
	pairs := [][2]string{{s.KeyFile, s.CertFile}}
	if s.NextKeyFile != "" {
		pairs = append(pairs, [2]string{s.NextKeyFile, s.NextCertFile})
	}
	var out []checkResult
	for i, p := range pairs {
		what := "SAML signing key and certificate"
		if i == 1 {
			what = "SAML next (rollover) key and certificate"
		}
		kp, err := certs.Load(p[0], p[1], now)
		if err != nil {
			out = append(out, checkResult{what: what, detail: err.Error(), fix: "see the message; 'idp keygen --out PREFIX' makes a matching pair"})
			continue
		}
		out = append(out, certExpiry(what, kp.Cert, now, "generate the next certificate now (idp keygen), configure it as saml.signing.next_*, upload it to the console, then set use_next"))
	}
	return out
}

func checkServingCert(cfg *config.Config, now time.Time) checkResult {
	what := "TLS serving certificate " + cfg.Server.TLS.CertFile
	pair, err := tls.LoadX509KeyPair(cfg.Server.TLS.CertFile, cfg.Server.TLS.KeyFile)
	if err != nil {
		return checkResult{what: what, detail: err.Error(), fix: "server.tls.cert_file and key_file must be a matching PEM certificate chain and key"}
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return checkResult{what: what, detail: err.Error()}
	}
	if now.After(leaf.NotAfter) {
		return checkResult{what: what, detail: "expired " + leaf.NotAfter.Format(time.DateOnly), fix: "renew the certificate; the SP refuses an expired one"}
	}
	return certExpiry(what, leaf, now, "renew the serving certificate before it expires")
}

func certExpiry(what string, c *x509.Certificate, now time.Time, fix string) checkResult {
	left := c.NotAfter.Sub(now)
	r := checkResult{ok: true, what: what, detail: fmt.Sprintf("valid until %s (%d days left)", c.NotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24))}
	if left < expiryWarning {
		r.warn, r.fix = true, fix
	}
	return r
}

// checkStore proves the state directory is writable without opening the
// database: a running server holds its lock.
func checkStore(cfg *config.Config) checkResult {
	if cfg.Store.Backend == store.BackendRedis {
		return checkRedis(cfg.Store.Redis)
	}
	if cfg.Store.Backend == store.BackendMemory {
		return checkResult{ok: true, warn: true, what: "state store", detail: "memory: sessions and codes are lost on restart", fix: "use store.backend: bolt in production"}
	}
	dir := filepath.Dir(cfg.Store.Path)
	f, err := os.CreateTemp(dir, ".idp-check-*")
	if err != nil {
		return checkResult{what: "state store " + cfg.Store.Path, detail: err.Error(), fix: "create " + dir + " and make it writable by the idp user (the systemd unit's StateDirectory does this)"}
	}
	f.Close()
	os.Remove(f.Name())
	if st, err := os.Stat(cfg.Store.Path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return checkResult{ok: true, warn: true, what: "state store " + cfg.Store.Path, detail: fmt.Sprintf("mode %o: readable by others", st.Mode().Perm()), fix: "chmod 600 " + cfg.Store.Path}
	}
	return checkResult{ok: true, what: "state store " + cfg.Store.Path, detail: "directory writable"}
}
