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
// signing, when not nil, learns each SAML signature's CPU time.
func buildProtocols(cfg *config.Config, log *slog.Logger, signing saml.SigningObserver) ([]server.Protocol, error) {
	var ps []server.Protocol
	if cfg.OAuth != nil {
		p, err := oauthsso.New(*cfg.OAuth)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	if cfg.SAML != nil {
		p, err := saml.New(*cfg.SAML, saml.Options{Logger: log, Observer: signing})
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}
