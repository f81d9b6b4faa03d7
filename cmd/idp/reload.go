package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"syscall"

	"github.com/ncp-sso/idp/certs"
	"github.com/ncp-sso/idp/idp/config"
)

// What SIGHUP reloads, and why not more: the TLS serving certificate (same
// file names, new contents: a renewal), the page and message files
// (server.templates_dir), and the audit file (reopened for logrotate) are
// swapped in place. Everything else is wired once at start-up (the OAuth
// clients and SAML SPs into their protocols' routes, the SAML signing keys,
// the directory pool, the store), so a change to it is reported in the log
// as needing a restart instead of half-applied.

// reloadOnSIGHUP calls reload on every SIGHUP until ctx ends or stop is
// called.
func (w *wiring) reloadOnSIGHUP(ctx context.Context, running *config.Config, path string, log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				w.reload(running, path, log)
			case <-ctx.Done():
				return
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}

// reload reads path again and applies what can change while running; the
// result is one log line saying what was reloaded, what failed and which
// sections changed but need a restart.
func (w *wiring) reload(running *config.Config, path string, log *slog.Logger) {
	next, err := config.Load(path)
	if err != nil {
		log.Error("reload_config_invalid", "path", path, "err", err)
		return
	}
	var reloaded, failed []string
	apply := func(what string, err error) {
		if err != nil {
			log.Error("reload_failed", "what", what, "err", err)
			failed = append(failed, what)
			return
		}
		reloaded = append(reloaded, what)
	}
	if running.Server.TLS.Enabled() {
		apply("tls_certificate", w.srv.ReloadTLS())
	}
	apply("templates", w.srv.ReloadTemplates(next.Server.TemplatesDir))
	if running.Audit.File != "" {
		apply("audit_file", w.audit.Reopen())
	}
	w.certMetrics(nil, log)
	log.Info("reloaded", "path", path, "reloaded", reloaded, "failed", failed, "needs_restart", needsRestart(running, next))
}

// needsRestart lists the configuration keys that differ between the
// running and the new configuration and that reload does not apply.
func needsRestart(running, next *config.Config) []string {
	a, b := *running, *next
	// Applied by reload: the templates directory.
	a.Server.TemplatesDir, b.Server.TemplatesDir = "", ""
	a.Sources, b.Sources = nil, nil
	out := []string{}
	sections := []struct {
		key  string
		x, y any
	}{
		{"server", a.Server, b.Server}, {"session", a.Session, b.Session}, {"branding", a.Branding, b.Branding},
		{"log", a.Log, b.Log}, {"store", a.Store, b.Store}, {"ldap", a.LDAP, b.LDAP},
		{"audit", a.Audit, b.Audit}, {"metrics", a.Metrics, b.Metrics}, {"admin", a.Admin, b.Admin},
		{"oauth", a.OAuth, b.OAuth}, {"saml", a.SAML, b.SAML},
	}
	for _, s := range sections {
		if !reflect.DeepEqual(s.x, s.y) {
			out = append(out, s.key)
		}
	}
	return out
}

// certMetrics publishes the expiry of the certificates in use: the TLS
// serving certificate, and with cfg the SAML ones (read at start-up only,
// like the keys the SAML mode signs with).
func (w *wiring) certMetrics(cfg *config.Config, log *slog.Logger) {
	if w.metrics == nil {
		return
	}
	if c := w.srv.TLSCertificate(); c != nil {
		w.metrics.SetCertificateExpiry("tls_serving", c.NotAfter)
	}
	if cfg == nil || cfg.SAML == nil {
		return
	}
	for name, path := range map[string]string{"saml_signing": cfg.SAML.Signing.CertFile, "saml_next": cfg.SAML.Signing.NextCertFile} {
		if path == "" {
			continue
		}
		c, err := certs.LoadCertificate(path)
		if err != nil {
			log.Warn("certificate_unreadable", "cert", name, "err", err)
			continue
		}
		w.metrics.SetCertificateExpiry(name, c.NotAfter)
	}
}
