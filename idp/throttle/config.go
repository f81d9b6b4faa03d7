package throttle

import (
	"time"

	"github.com/ncp-sso/idp/idp"
)

// Defaults applied by SetDefaults.
const (
	DefaultMaxFailuresPerAccount = 3
	DefaultMaxFailuresPerIP      = 100
	DefaultWindow                = 15 * time.Minute
	// DefaultFamiliarBrowserFailures is how many of an account's
	// MaxFailuresPerAccount are kept for browsers that signed in with it
	// before (when that limit is at least 2).
	DefaultFamiliarBrowserFailures = 1

	maxLimit  = 10000
	maxWindow = 24 * time.Hour
)

// Config is the `throttle:` section.
type Config struct {
	// MaxFailuresPerAccount is how many wrong passwords for one account
	// may reach the directory before further attempts are refused until
	// Window has passed without a failure. It is applied twice: to the
	// name as typed (normalised: case, surrounding spaces, DOMAIN\ and
	// known UPN suffixes), before the directory is asked, and to the
	// directory entry the name resolved to, before the bind, so mixing
	// name forms of one account gains nothing. Keep it below the
	// directory's lockout threshold. Default 3.
	MaxFailuresPerAccount int `yaml:"max_failures_per_account"`
	// MaxFailuresPerIP is how many failed logins one client IP may make
	// over all accounts in a fixed Window (password spraying). Only
	// failures count, never logins in flight or successful ones: an office
	// behind one NAT address shares it, so keep it generous. Default 100.
	MaxFailuresPerIP int `yaml:"max_failures_per_ip"`
	// Window is how long after the last failure the counters start again.
	// Keep it at least as long as AD's "reset account lockout counter
	// after". Default 15m.
	Window time.Duration `yaml:"window"`
	// FamiliarBrowserFailures is how many of MaxFailuresPerAccount are
	// kept for browsers in which the account signed in before (a cookie,
	// valid 90 days, renewed at each sign-in): other browsers may spend
	// only the rest. Anyone who knows a login name can send wrong
	// passwords for it; this way they cannot spend the employee's own
	// attempts, and the directory still sees at most MaxFailuresPerAccount
	// per window, under the name and under the directory entry alike.
	// Default 1 (so 2 for other browsers, 3 in all), or 0 when
	// MaxFailuresPerAccount is 1; 0 turns it off. Must be less than
	// MaxFailuresPerAccount.
	FamiliarBrowserFailures *int `yaml:"familiar_browser_failures"`
	// InsecureDisable turns login throttling off: every attempt reaches
	// the directory, and a password-guessing client can lock real AD
	// accounts. Default false.
	InsecureDisable bool `yaml:"insecure_disable"`
}

// SetDefaults fills zero values with the documented defaults.
func (c *Config) SetDefaults() {
	if c.MaxFailuresPerAccount == 0 {
		c.MaxFailuresPerAccount = DefaultMaxFailuresPerAccount
	}
	if c.MaxFailuresPerIP == 0 {
		c.MaxFailuresPerIP = DefaultMaxFailuresPerIP
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.FamiliarBrowserFailures == nil {
		n := 0
		if c.MaxFailuresPerAccount >= 2 {
			n = DefaultFamiliarBrowserFailures
		}
		c.FamiliarBrowserFailures = &n
	}
}

// familiarKept is FamiliarBrowserFailures of a defaulted Config.
func (c *Config) familiarKept() int {
	if c.FamiliarBrowserFailures == nil {
		return 0
	}
	return *c.FamiliarBrowserFailures
}

// Validate reports every problem of a defaulted Config.
func (c *Config) Validate() idp.Problems {
	var ps idp.Problems
	if c.MaxFailuresPerAccount < 1 || c.MaxFailuresPerAccount > maxLimit {
		ps.Addf("max_failures_per_account", "must be between 1 and %d, and below the directory's lockout threshold (e.g. 3 when AD locks at 5)", maxLimit)
	}
	if c.MaxFailuresPerIP < 1 || c.MaxFailuresPerIP > maxLimit {
		ps.Addf("max_failures_per_ip", "must be between 1 and %d, e.g. 100", maxLimit)
	}
	if n := c.familiarKept(); n < 0 || (n > 0 && n >= c.MaxFailuresPerAccount) {
		ps.Addf("familiar_browser_failures", "must be 0 (off) or less than max_failures_per_account (%d): it is the part of that limit kept for browsers that signed in before, e.g. 1 of 3", c.MaxFailuresPerAccount)
	}
	if c.Window < time.Second || c.Window > maxWindow {
		ps.Addf("window", "must be between 1s and %v, e.g. 15m (at least AD's lockout observation window)", maxWindow)
	}
	return ps
}
