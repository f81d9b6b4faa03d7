package server

import (
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ncp-sso/idp/idp"
)

// Config is the `server:` section.
type Config struct {
	// Listen is the address to listen on. Default ":8443" with TLS, ":8080" without.
	Listen string `yaml:"listen"`
	// PublicURL is the externally visible base URL (scheme://host[:port]),
	// used to build every URL given to an SP. Required. The SPs accept only
	// https on port 443.
	PublicURL string `yaml:"public_url"`
	// TLS serves HTTPS directly from these files. Leave empty behind a
	// reverse proxy that terminates TLS.
	TLS TLSConfig `yaml:"tls"`
	// TrustedProxies lists the CIDRs of reverse proxies whose
	// X-Forwarded-For header is believed for the client IP. Empty: the peer
	// address is the client.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ReadHeaderTimeout bounds slow clients sending headers. Default 5s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request. Default 15s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing a response. Default 30s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes idle keep-alive connections. Default 120s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ShutdownTimeout is how long in-flight requests may finish on SIGTERM. Default 15s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MaxBodyBytes caps request bodies. Default 524288 (512 KiB, enough for
	// a SAML POST-binding request).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// BrowserConcurrency is how many browser requests (login pages, form
	// posts, the SSO and login URLs) are worked on at once; more wait in
	// line, first come first served, for up to 10 s. The SP's token and
	// userinfo calls and /healthz and /readyz never wait in this line, so
	// they stay fast at the morning peak. Default 0: 8 per processor
	// (GOMAXPROCS), 24 on a single one; -1: no line.
	BrowserConcurrency int `yaml:"browser_concurrency"`
	// TemplatesDir, when set, holds page and message files that replace the
	// embedded ones of the same name (see templates/).
	TemplatesDir string `yaml:"templates_dir"`
}

// TLSConfig names the serving certificate and key (PEM).
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Enabled reports whether the server serves TLS itself.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// SetDefaults fills zero values.
func (c *Config) SetDefaults() {
	if c.Listen == "" {
		if c.TLS.Enabled() {
			c.Listen = ":8443"
		} else {
			c.Listen = ":8080"
		}
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	setDur(&c.ReadHeaderTimeout, 5*time.Second)
	setDur(&c.ReadTimeout, 15*time.Second)
	setDur(&c.WriteTimeout, 30*time.Second)
	setDur(&c.IdleTimeout, 120*time.Second)
	setDur(&c.ShutdownTimeout, 15*time.Second)
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 512 << 10
	}
}

func setDur(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// Validate reports every problem at once.
func (c *Config) Validate() idp.Problems {
	var ps idp.Problems
	if c.PublicURL == "" {
		ps.Addf("public_url", "required: the https URL employees and the SP use to reach this IdP, e.g. https://sso.example.com")
	} else if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		ps.Addf("public_url", "must be an absolute URL like https://sso.example.com (scheme and host only, no path or query)")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		ps.Addf("listen", "must be host:port or :port, e.g. :443 (%v)", err)
	}
	if c.TLS.Enabled() {
		if c.TLS.CertFile == "" || c.TLS.KeyFile == "" {
			ps.Addf("tls", "set both cert_file and key_file, or neither (behind a TLS-terminating proxy)")
		}
		for k, f := range map[string]string{"tls.cert_file": c.TLS.CertFile, "tls.key_file": c.TLS.KeyFile} {
			if f != "" {
				if _, err := os.Stat(f); err != nil {
					ps.Addf(k, "cannot read %s: %v", f, err)
				}
			}
		}
	}
	for i, p := range c.TrustedProxies {
		if _, err := idp.ParseNetwork(p); err != nil {
			ps.Addf(keyIndex("trusted_proxies", i), "%q is not a CIDR (e.g. 10.0.0.0/8) or IP address", p)
		}
	}
	for k, d := range map[string]time.Duration{"read_header_timeout": c.ReadHeaderTimeout, "read_timeout": c.ReadTimeout, "write_timeout": c.WriteTimeout, "idle_timeout": c.IdleTimeout, "shutdown_timeout": c.ShutdownTimeout} {
		if d < 0 {
			ps.Addf(k, "must be positive")
		}
	}
	if c.MaxBodyBytes < 4096 || c.MaxBodyBytes > 10<<20 {
		ps.Addf("max_body_bytes", "must be between 4096 and 10485760 bytes")
	}
	if c.BrowserConcurrency < -1 || c.BrowserConcurrency > 100000 {
		ps.Addf("browser_concurrency", "must be between 1 and 100000, 0 for the default (8 per processor, 24 on a single one) or -1 for no limit")
	}
	if c.TemplatesDir != "" {
		if st, err := os.Stat(c.TemplatesDir); err != nil || !st.IsDir() {
			ps.Addf("templates_dir", "%q is not a readable directory", c.TemplatesDir)
		}
	}
	return ps
}

func keyIndex(k string, i int) string { return k + "[" + strconv.Itoa(i) + "]" }

// SessionConfig is the `session:` section.
type SessionConfig struct {
	// Lifetime of an SSO session: within it, a second SP request skips the
	// form. Default 8h.
	Lifetime time.Duration `yaml:"lifetime"`
	// FlowLifetime is how long a parked SP request waits for the user to log
	// in. Default 30m (the SPs accept an answer within 30 minutes).
	FlowLifetime time.Duration `yaml:"flow_lifetime"`
	// CookieName of the session cookie. Default "idp_session"
	// ("__Host-idp_session" when the public URL is https).
	CookieName string `yaml:"cookie_name"`
	// LoginTimeout bounds one directory check on the login page. Default 15s.
	LoginTimeout time.Duration `yaml:"login_timeout"`
}

// SetDefaults fills zero values.
func (c *SessionConfig) SetDefaults() {
	setDur(&c.Lifetime, 8*time.Hour)
	setDur(&c.FlowLifetime, 30*time.Minute)
	setDur(&c.LoginTimeout, 15*time.Second)
}

// Validate reports every problem at once.
func (c *SessionConfig) Validate() idp.Problems {
	var ps idp.Problems
	if c.Lifetime < time.Minute || c.Lifetime > 30*24*time.Hour {
		ps.Addf("lifetime", "must be between 1m and 720h (e.g. 8h)")
	}
	if c.FlowLifetime < time.Minute || c.FlowLifetime > 30*time.Minute {
		ps.Addf("flow_lifetime", "must be between 1m and 30m: the SPs accept an answer within 30 minutes of their request")
	}
	if c.LoginTimeout < time.Second || c.LoginTimeout > time.Minute {
		ps.Addf("login_timeout", "must be between 1s and 1m")
	}
	if c.CookieName != "" && !cookieNameRe.MatchString(c.CookieName) {
		ps.Addf("cookie_name", "use letters, digits, '_' and '-' only")
	}
	return ps
}

var cookieNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// BrandingConfig is the `branding:` section.
type BrandingConfig struct {
	// CompanyName is shown on every page. Default "Company".
	CompanyName string `yaml:"company_name"`
	// LogoFile is a PNG, SVG, JPEG or WebP file served at /branding/logo
	// and shown instead of the name. Optional.
	LogoFile string `yaml:"logo_file"`
	// PrimaryColor for buttons and focus rings, #rrggbb. Default #1f5eff.
	PrimaryColor string `yaml:"primary_color"`
	// PasswordHelpURL is where employees change an expired password
	// (shown with the "password expired" message). Optional.
	PasswordHelpURL string `yaml:"password_help_url"`
}

// SetDefaults fills zero values.
func (c *BrandingConfig) SetDefaults() {
	if c.CompanyName == "" {
		c.CompanyName = "Company"
	}
	if c.PrimaryColor == "" {
		c.PrimaryColor = "#1f5eff"
	}
}

var colorRe = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// Validate reports every problem at once.
func (c *BrandingConfig) Validate() idp.Problems {
	var ps idp.Problems
	if len(c.CompanyName) > 100 {
		ps.Addf("company_name", "at most 100 characters")
	}
	if !colorRe.MatchString(c.PrimaryColor) {
		ps.Addf("primary_color", "must be #rrggbb, e.g. #1f5eff")
	}
	if c.LogoFile != "" {
		if _, err := os.Stat(c.LogoFile); err != nil {
			ps.Addf("logo_file", "cannot read %s: %v", c.LogoFile, err)
		}
	}
	if c.PasswordHelpURL != "" {
		if u, err := url.Parse(c.PasswordHelpURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			ps.Addf("password_help_url", "must be an absolute http(s) URL")
		}
	}
	return ps
}
