package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"

	"gopkg.in/yaml.v3"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/audit"
	"github.com/ncp-sso/idp/idp/metrics"
	"github.com/ncp-sso/idp/idp/server"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/throttle"
	"github.com/ncp-sso/idp/ldapauth"
	"github.com/ncp-sso/idp/oauthsso"
	"github.com/ncp-sso/idp/saml"
)

// Config is the whole configuration file. Every section is documented key by
// key in idp.example.yaml at the repository root.
type Config struct {
	Server   server.Config         `yaml:"server"`
	Session  server.SessionConfig  `yaml:"session"`
	Branding server.BrandingConfig `yaml:"branding"`
	Log      LogConfig             `yaml:"log"`
	Store    store.Config          `yaml:"store"`
	LDAP     ldapauth.Config       `yaml:"ldap"`
	// Throttle limits failed logins before they reach the directory.
	Throttle throttle.Config    `yaml:"throttle"`
	Audit    audit.Config       `yaml:"audit"`
	Metrics  metrics.Config     `yaml:"metrics"`
	Admin    server.AdminConfig `yaml:"admin"`
	// OAuth enables the OAuth 2.0 SSO mode; absent means off.
	OAuth *oauthsso.Config `yaml:"oauth"`
	// SAML enables the SAML 2.0 SSO mode; absent means off.
	SAML *saml.Config `yaml:"saml"`

	// Sources records where values that did not come from the file itself
	// were read from, by key path: "env:NAME" or "file:PATH". It lets tools
	// say where a secret comes from without printing it.
	Sources map[string]string `yaml:"-"`
}

// LogConfig is the `log:` section.
type LogConfig struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is json (for a log collector) or text. Default json.
	Format string `yaml:"format"`
}

// SetDefaults fills zero values.
func (c *LogConfig) SetDefaults() {
	if c.Level == "" {
		c.Level = "info"
	}
	if c.Format == "" {
		c.Format = "json"
	}
}

// Validate reports every problem at once.
func (c *LogConfig) Validate() idp.Problems {
	var ps idp.Problems
	switch c.Level {
	case "debug", "info", "warn", "error":
	default:
		ps.Addf("level", "must be debug, info, warn or error")
	}
	if c.Format != "json" && c.Format != "text" {
		ps.Addf("format", "must be json or text")
	}
	return ps
}

// section is implemented by every configuration section.
type section interface {
	SetDefaults()
	Validate() idp.Problems
}

// sections lists the sections with their YAML keys, in file order.
func (c *Config) sections() []struct {
	key string
	s   section
} {
	out := []struct {
		key string
		s   section
	}{
		{"server", &c.Server}, {"session", &c.Session}, {"branding", &c.Branding},
		{"log", &c.Log}, {"store", &c.Store}, {"ldap", &c.LDAP}, {"throttle", &c.Throttle},
		{"audit", &c.Audit}, {"metrics", &c.Metrics}, {"admin", &c.Admin},
	}
	// Optional sections: an SSO mode is on when its section is present.
	if c.OAuth != nil {
		out = append(out, struct {
			key string
			s   section
		}{"oauth", c.OAuth})
	}
	if c.SAML != nil {
		out = append(out, struct {
			key string
			s   section
		}{"saml", c.SAML})
	}
	return out
}

// SetDefaults applies every section's defaults.
func (c *Config) SetDefaults() {
	for _, s := range c.sections() {
		s.s.SetDefaults()
	}
}

// Validate returns every problem of every section.
func (c *Config) Validate() idp.Problems {
	var ps idp.Problems
	for _, s := range c.sections() {
		ps.Merge(s.key, s.s.Validate())
	}
	if len(c.Admin.Groups) > 0 && c.LDAP.Groups.BaseDN == "" {
		// Without a group search the directory resolves only
		// ldap.groups.required, so an admin group would never match.
		ps.Addf("admin.groups", "set ldap.groups.base_dn (e.g. the domain's base DN) so that the admin groups can be found among the user's groups")
	}
	return ps
}

// Load reads, checks, defaults and validates the file at path. The error is
// idp.Problems when the file is readable YAML with mistakes.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	return Parse(f, os.LookupEnv)
}

// Parse is Load from a reader, with an injectable environment.
func Parse(r io.Reader, lookupEnv func(string) (string, bool)) (*Config, error) {
	raw, err := io.ReadAll(io.LimitReader(r, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, idp.Problems{{Key: "(file)", Msg: "the file is empty: start from idp.example.yaml"}}
		}
		return nil, fmt.Errorf("config: not valid YAML: %w", err)
	}
	var ps idp.Problems
	cfg := &Config{Sources: map[string]string{}}
	expandEnv(&root, "", lookupEnv, cfg.Sources, &ps)
	checkKeys(&root, reflect.TypeOf(cfg), "", &ps)
	if err := root.Decode(cfg); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, e := range te.Errors {
				ps.Addf("(value)", "%s", e)
			}
		} else {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	resolveFiles(reflect.ValueOf(cfg), "", cfg.Sources, &ps)
	if len(ps) > 0 {
		return nil, ps
	}
	cfg.SetDefaults()
	if err := cfg.Validate().Err(); err != nil {
		return nil, err
	}
	return cfg, nil
}
