package main

import (
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/config"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/boltstore"
	"github.com/ncp-sso/idp/idp/throttle"
	"github.com/ncp-sso/idp/ldapauth"
)

// buildThrottle makes the login throttle from the `throttle:` section, on
// the same backend as the rest of the state (so several instances sharing
// a store share the counts), and sets it as auth's entry throttle: the
// typed name is counted before the directory is asked, the entry it
// resolved to before the bind. It returns nil when throttling is disabled.
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
	auth.SetEntryThrottle(th)
	return th, nil
}

// ldapTestThrottle puts the diagnostic bind of `idp ldap test` through the
// entry throttle of the IdP's own store, so that it counts (and is refused)
// like a login. It returns a note for the output when the throttle cannot
// be consulted, and a function that closes what it opened. It never creates
// a store file.
func ldapTestThrottle(cfg *config.Config, auth *ldapauth.Authenticator) (note string, closeFn func()) {
	nothing := func() {}
	switch {
	case cfg.Throttle.InsecureDisable:
		return "login throttling is off (throttle.insecure_disable): the bind is not counted", nothing
	case cfg.Store.Backend == store.BackendMemory:
		return "store.backend is memory: the running IdP's counts are not reachable; the bind is not counted", nothing
	case cfg.Store.Backend != store.BackendBolt:
		return "the login throttle is not consulted with store.backend " + cfg.Store.Backend + "; the bind is not counted", nothing
	case cfg.Store.ShortLived == store.ShortLivedMemory:
		return "store.short_lived is memory: the running IdP keeps its login counts in its own memory, out of reach; the bind is not counted", nothing
	}
	if _, err := os.Stat(cfg.Store.Path); err != nil {
		return "no state store at " + cfg.Store.Path + " yet: the bind is not counted", nothing
	}
	b, err := boltstore.OpenConfig(cfg.Store, boltstore.WithLockTimeout(time.Second))
	if err != nil {
		if errors.Is(err, boltstore.ErrLocked) {
			return "the running IdP holds " + cfg.Store.Path + ": the login throttle is not consulted and the bind is not counted", nothing
		}
		return "the login throttle is not consulted (" + err.Error() + "): the bind is not counted", nothing
	}
	th, err := throttle.New(b, cfg.Throttle, throttle.WithNormalizer(auth.NormalizeUsername))
	if err != nil {
		b.Close()
		return "the login throttle is not consulted (" + err.Error() + "): the bind is not counted", nothing
	}
	auth.SetEntryThrottle(th)
	return "", func() { b.Close() }
}
