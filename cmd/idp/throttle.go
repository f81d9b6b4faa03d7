package main

import (
	"errors"
	"log/slog"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/config"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/throttle"
	"github.com/ncp-sso/idp/ldapauth"
)

// buildThrottle makes the login throttle from the `throttle:` section, on
// the same backend as the rest of the state (so several instances sharing
// a store share the counts). It returns nil when throttling is disabled.
func buildThrottle(cfg *config.Config, st idp.Store, auth *ldapauth.Authenticator, log *slog.Logger) (idp.LoginThrottle, error) {
	if cfg.Throttle.InsecureDisable {
		log.Warn("login throttling disabled", "event", "throttle_disabled")
		return nil, nil
	}
	b, ok := store.BackendOf(st)
	if !ok {
		return nil, errors.New("throttle: the store has no backend to count in")
	}
	th, err := throttle.New(b, cfg.Throttle, throttle.WithNormalizer(auth.NormalizeUsername), throttle.WithLogger(log))
	if err != nil {
		return nil, err
	}
	return th, nil
}
