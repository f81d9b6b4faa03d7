package main

import (
	"context"
	"os"
	"time"

	"github.com/ncp-sso/idp/idp/config"
	"github.com/ncp-sso/idp/idp/server"
)

// adminOptions gives the admin page the same values as `idp console` and
// the same checklist as `idp check`, computed from the running
// configuration at every view (so a rolled-over certificate shows at once).
func adminOptions(cfg *config.Config) server.Admin {
	return server.Admin{
		Config: cfg.Admin,
		Console: func() (server.AdminConsole, error) {
			out, err := consoleValues(cfg, false, time.Now())
			if err != nil {
				return server.AdminConsole{}, err
			}
			return adminConsole(out), nil
		},
		Checks: func(ctx context.Context) []server.AdminCheck {
			var out []server.AdminCheck
			for _, r := range liveChecks(ctx, cfg, 5*time.Second, time.Now()) {
				out = append(out, server.AdminCheck{OK: r.ok, Warn: r.warn, What: r.what, Detail: r.detail, Fix: r.fix})
			}
			return out
		},
		Certificate: func() ([]byte, error) {
			if cfg.SAML == nil {
				return nil, nil
			}
			path := cfg.SAML.Signing.CertFile
			if cfg.SAML.Signing.UseNext {
				path = cfg.SAML.Signing.NextCertFile
			}
			if path == "" {
				return nil, nil
			}
			return os.ReadFile(path)
		},
	}
}

func adminConsole(out *consoleOut) server.AdminConsole {
	ac := server.AdminConsole{Warnings: out.Warnings}
	for _, sp := range out.ServiceProviders {
		asp := server.AdminSP{Name: sp.Name, Mode: sp.Mode, Profile: sp.Profile}
		for _, f := range sp.Fields {
			asp.Fields = append(asp.Fields, server.AdminField{Key: f.Key, LabelEN: f.LabelEN, LabelKO: f.LabelKO, Value: f.Value, Note: f.Note})
		}
		ac.ServiceProviders = append(ac.ServiceProviders, asp)
	}
	return ac
}
