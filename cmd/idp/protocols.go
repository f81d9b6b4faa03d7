package main

import (
	"log/slog"

	"github.com/ncp-sso/idp/idp/config"
	"github.com/ncp-sso/idp/idp/server"
	"github.com/ncp-sso/idp/oauthsso"
	"github.com/ncp-sso/idp/saml"
)

// buildProtocols returns the SSO modes the configuration enables: a mode is
// on when its section is present.
func buildProtocols(cfg *config.Config, log *slog.Logger) ([]server.Protocol, error) {
	var ps []server.Protocol
	if cfg.OAuth != nil {
		p, err := oauthsso.New(*cfg.OAuth)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	if cfg.SAML != nil {
		p, err := saml.New(*cfg.SAML, saml.Options{Logger: log})
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}
