package main

import (
	"log/slog"

	"github.com/ncp-sso/idp/idp/config"
	"github.com/ncp-sso/idp/idp/server"
)

// buildProtocols returns the SSO modes the configuration enables.
func buildProtocols(cfg *config.Config, log *slog.Logger) ([]server.Protocol, error) {
	return nil, nil
}
