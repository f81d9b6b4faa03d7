package oauthsso

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
)

// Profiles: a profile is a set of defaults for one SP family; every value it
// sets stays overridable per client.
const (
	ProfileWorkplace  = "workplace"
	ProfileNaverWorks = "naverworks"
)

// Defaults and limits.
const (
	DefaultCodeLifetime        = 60 * time.Second
	MaxCodeLifetime            = 10 * time.Minute // RFC 6749 §4.1.2
	DefaultFlowLifetime        = 30 * time.Minute
	MaxFlowLifetime            = 30 * time.Minute // the SP gives up after 30 minutes
	DefaultAccessTokenLifetime = time.Hour
	MaxAccessTokenLifetime     = 30 * 24 * time.Hour
	DefaultUserinfoAttribute   = "mail"
	// DefaultSpentCodeRetention is how long past its expiry a redeemed
	// code is remembered, so that a replay is recognised (and the token
	// issued from it revoked) rather than answered as an unknown code.
	DefaultSpentCodeRetention = store.DefaultSpentCodeRetention
	MaxSpentCodeRetention     = 24 * time.Hour

	// MinClientSecretLen is the shortest plain client secret accepted.
	MinClientSecretLen = 16
)

// Config is the `oauth:` section.
type Config struct {
	// Clients are the SPs allowed to use OAuth mode. An empty list leaves the
	// mode registered but every request is refused as "unknown client".
	Clients []Client `yaml:"clients"`
	// CodeLifetime bounds how long an authorization code can be redeemed.
	// Default 60s, at most 10m.
	CodeLifetime time.Duration `yaml:"code_lifetime"`
	// FlowLifetime bounds how long the user may take on the login page.
	// Default 30m, at most 30m.
	FlowLifetime time.Duration `yaml:"flow_lifetime"`
	// SpentCodeRetention is how long past its expiry a redeemed code is
	// remembered: a replay within it is refused as a replay and revokes
	// the token issued from the code (RFC 6749 §4.1.2); after it, a replay
	// is refused as an unknown code. Each remembered code is about 300
	// bytes of process memory with store.short_lived memory (the spent
	// code's tombstone keeps only its client and token), the whole record
	// (some 450 bytes in memory) in bolt or Redis otherwise.
	// Default 2m, at most 24h.
	SpentCodeRetention time.Duration `yaml:"spent_code_retention"`
	// InsecureAllowHTTPLoopback lets redirect_uris_allowed, sp_logout_url and
	// logout redirects use http://127.0.0.1 and http://localhost (any port
	// with "http://127.0.0.1:*/"), for the local demo SP and tests only.
	// Default false.
	InsecureAllowHTTPLoopback bool `yaml:"insecure_allow_http_loopback"`
}

// Client is one registered SP (one Client ID / Client Secret pair).
type Client struct {
	// Name identifies the client in logs and audit (required, unique).
	Name string `yaml:"name"`
	// DisplayName is shown on the login page. Default per profile
	// ("NCP WORKPLACE", "NAVER WORKS").
	DisplayName string `yaml:"display_name"`
	// ClientID is the Client ID entered in the SP console (required, unique).
	ClientID string `yaml:"client_id"`
	// ClientSecret is the Client Secret, in plain text (at least 16
	// characters). Exactly one of client_secret and client_secret_hash.
	ClientSecret     string `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// ClientSecretHash is "sha256:<64 hex digits>" of the secret, for configs
	// that must not hold the secret itself. Fine for high-entropy generated
	// secrets; do not use it for a human-chosen password.
	ClientSecretHash string `yaml:"client_secret_hash"`
	// Profile is "workplace" or "naverworks" (required).
	Profile string `yaml:"profile"`
	// Company is the WORKPLACE company ID, the {company} of
	// https://{company}.ncpworkplace.com. Required for workplace unless
	// redirect_uris_allowed, logout_redirect_domains and sp_logout_url are
	// all set.
	Company string `yaml:"company"`
	// Domain is the NAVER WORKS domain sent as the "domain" parameter of the
	// IdP-initiated logout. Optional; omitted when empty.
	Domain string `yaml:"domain"`
	// RedirectURIsAllowed lists allowed redirect_uri prefixes: scheme, host
	// and port must match exactly, the path must lie under the entry's path
	// on a "/" boundary. Default: workplace https://{company}.ncpworkplace.com/,
	// naverworks https://auth.worksmobile.com/.
	RedirectURIsAllowed []string `yaml:"redirect_uris_allowed"`
	// LogoutRedirectDomains lists the exact host names /oauth/logout may
	// redirect to (https, port 443). Default: workplace
	// {company}.ncpworkplace.com, naverworks auth.worksmobile.com.
	LogoutRedirectDomains []string `yaml:"logout_redirect_domains"`
	// SPLogoutURL is where IdP-initiated logout sends the browser. Default:
	// workplace https://{company}.ncpworkplace.com/authn/logoutProcess,
	// naverworks https://auth.worksmobile.com/view/oauth/sso/logout.
	SPLogoutURL string `yaml:"sp_logout_url"`
	// AccessTokenLifetime is the token lifetime, counted from when its code
	// is issued (the token is stored with it), and sent as expires_in: what
	// is left of it at the token call, in whole seconds. The SP keeps the
	// user logged in that long. Default 1h, between 1m and 720h, and longer
	// than the code lifetime.
	AccessTokenLifetime time.Duration `yaml:"access_token_lifetime"`
	// ExpiresInType is "string" or "number", the JSON type of expires_in.
	// Default: workplace string, naverworks number.
	ExpiresInType string `yaml:"expires_in_type"`
	// UserinfoAttribute is the directory attribute whose first value userinfo
	// returns. Default "mail".
	UserinfoAttribute string `yaml:"userinfo_attribute"`
	// UserinfoField is the JSON field userinfo answers with: "email_id" or
	// "user_id". Default: workplace email_id, naverworks user_id.
	UserinfoField string `yaml:"userinfo_field"`
	// RequireState refuses login requests without state. Default: workplace
	// true, naverworks false (WORKS embeds its state in redirect_uri).
	RequireState *bool `yaml:"require_state"`
	// NumericErrorCode adds the NAVER WORKS numeric "code" (101, 201, 301,
	// 303) to token and userinfo error bodies. Default: naverworks true,
	// workplace false.
	NumericErrorCode *bool `yaml:"numeric_error_code"`
}

var (
	companyRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	hostnameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)
	clientIDRE = regexp.MustCompile(`^[\x21-\x7e]{1,255}$`)
)

// SetDefaults fills zero values with the documented defaults, per profile.
func (c *Config) SetDefaults() {
	if c.CodeLifetime == 0 {
		c.CodeLifetime = DefaultCodeLifetime
	}
	if c.FlowLifetime == 0 {
		c.FlowLifetime = DefaultFlowLifetime
	}
	if c.SpentCodeRetention == 0 {
		c.SpentCodeRetention = DefaultSpentCodeRetention
	}
	for i := range c.Clients {
		c.Clients[i].SetDefaults()
	}
}

// SetDefaults fills a client's zero values from its profile. Values that
// depend on Company are filled only when Company is set.
func (cl *Client) SetDefaults() {
	cl.Profile = strings.ToLower(strings.TrimSpace(cl.Profile))
	cl.Company = strings.ToLower(strings.TrimSpace(cl.Company))
	if cl.AccessTokenLifetime == 0 {
		cl.AccessTokenLifetime = DefaultAccessTokenLifetime
	}
	if cl.UserinfoAttribute == "" {
		cl.UserinfoAttribute = DefaultUserinfoAttribute
	}
	t, f := true, false
	switch cl.Profile {
	case ProfileWorkplace:
		setDefault(&cl.DisplayName, "NCP WORKPLACE")
		setDefault(&cl.ExpiresInType, "string")
		setDefault(&cl.UserinfoField, "email_id")
		if cl.RequireState == nil {
			cl.RequireState = &t
		}
		if cl.NumericErrorCode == nil {
			cl.NumericErrorCode = &f
		}
		if cl.Company != "" {
			base := "https://" + cl.Company + ".ncpworkplace.com"
			if len(cl.RedirectURIsAllowed) == 0 {
				cl.RedirectURIsAllowed = []string{base + "/"}
			}
			if len(cl.LogoutRedirectDomains) == 0 {
				cl.LogoutRedirectDomains = []string{cl.Company + ".ncpworkplace.com"}
			}
			setDefault(&cl.SPLogoutURL, base+"/authn/logoutProcess")
		}
	case ProfileNaverWorks:
		setDefault(&cl.DisplayName, "NAVER WORKS")
		setDefault(&cl.ExpiresInType, "number")
		setDefault(&cl.UserinfoField, "user_id")
		if cl.RequireState == nil {
			cl.RequireState = &f
		}
		if cl.NumericErrorCode == nil {
			cl.NumericErrorCode = &t
		}
		if len(cl.RedirectURIsAllowed) == 0 {
			cl.RedirectURIsAllowed = []string{"https://auth.worksmobile.com/"}
		}
		if len(cl.LogoutRedirectDomains) == 0 {
			cl.LogoutRedirectDomains = []string{"auth.worksmobile.com"}
		}
		setDefault(&cl.SPLogoutURL, "https://auth.worksmobile.com/view/oauth/sso/logout")
	}
}

func setDefault(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

// Validate reports every problem at once, with keys relative to the section
// ("clients[0].client_id"). Call SetDefaults first.
func (c *Config) Validate() idp.Problems {
	var ps idp.Problems
	if c.CodeLifetime <= 0 || c.CodeLifetime > MaxCodeLifetime {
		ps.Addf("code_lifetime", "must be between 1s and %s (RFC 6749 caps codes at 10 minutes); about 60s is right", MaxCodeLifetime)
	}
	if c.SpentCodeRetention < time.Second || c.SpentCodeRetention > MaxSpentCodeRetention {
		ps.Addf("spent_code_retention", "must be between 1s and %s; default %s", MaxSpentCodeRetention, DefaultSpentCodeRetention)
	}
	if c.FlowLifetime < time.Minute || c.FlowLifetime > MaxFlowLifetime {
		ps.Addf("flow_lifetime", "must be between 1m and %s (the SP waits at most 30 minutes)", MaxFlowLifetime)
	}
	ids := map[string]int{}
	names := map[string]int{}
	for i := range c.Clients {
		cl := &c.Clients[i]
		key := fmt.Sprintf("clients[%d]", i)
		ps.Merge(key, cl.validate(c.InsecureAllowHTTPLoopback))
		if cl.AccessTokenLifetime >= time.Minute && cl.AccessTokenLifetime <= c.CodeLifetime {
			// The token is stored when the code is issued: a code redeemed
			// late would find it expired.
			ps.Addf(key+".access_token_lifetime", "must be longer than code_lifetime (%s): its lifetime runs from when the code is issued", c.CodeLifetime)
		}
		if cl.ClientID != "" {
			if j, dup := ids[cl.ClientID]; dup {
				ps.Addf(key+".client_id", "duplicates clients[%d].client_id; every client needs its own Client ID", j)
			} else {
				ids[cl.ClientID] = i
			}
		}
		if cl.Name != "" {
			if j, dup := names[cl.Name]; dup {
				ps.Addf(key+".name", "duplicates clients[%d].name; give each client a unique name", j)
			} else {
				names[cl.Name] = i
			}
		}
	}
	return ps
}

func (cl *Client) validate(insecure bool) idp.Problems {
	var ps idp.Problems
	if strings.TrimSpace(cl.Name) == "" {
		ps.Addf("name", "is required: a short unique name for logs (e.g. \"workplace\")")
	}
	if !clientIDRE.MatchString(cl.ClientID) {
		ps.Addf("client_id", "is required: copy the Client ID from the SP console (printable characters, no spaces, at most 255)")
	}
	switch {
	case cl.ClientSecret != "" && cl.ClientSecretHash != "":
		ps.Addf("client_secret", "set either client_secret (or client_secret_file) or client_secret_hash, not both")
	case cl.ClientSecret == "" && cl.ClientSecretHash == "":
		ps.Addf("client_secret", "is required: set client_secret, client_secret_file or client_secret_hash (\"sha256:<hex>\")")
	case cl.ClientSecret != "" && len(cl.ClientSecret) < MinClientSecretLen:
		ps.Addf("client_secret", "is too short: use a random secret of at least %d characters (e.g. `openssl rand -hex 32`)", MinClientSecretLen)
	case cl.ClientSecretHash != "":
		if _, err := parseSecretHash(cl.ClientSecretHash); err != nil {
			ps.Addf("client_secret_hash", "must be \"sha256:\" followed by 64 hex digits (e.g. `printf %%s \"$SECRET\" | sha256sum`)")
		}
	}
	knownProfile := cl.Profile == ProfileWorkplace || cl.Profile == ProfileNaverWorks
	if !knownProfile {
		ps.Addf("profile", "must be %q or %q", ProfileWorkplace, ProfileNaverWorks)
	}
	if cl.Company != "" && !companyRE.MatchString(cl.Company) {
		ps.Addf("company", "must be the company ID as in https://{company}.ncpworkplace.com (letters, digits, hyphens)")
	}
	if cl.Domain != "" && !hostnameRE.MatchString(strings.ToLower(cl.Domain)) {
		ps.Addf("domain", "must be the NAVER WORKS domain name (e.g. example.com)")
	}
	if len(cl.RedirectURIsAllowed) == 0 {
		ps.Addf("redirect_uris_allowed", "is empty: set company (workplace) or list the allowed redirect_uri prefixes")
	}
	for i, raw := range cl.RedirectURIsAllowed {
		if _, err := parseAllowedPrefix(raw, insecure); err != nil {
			ps.Addf(fmt.Sprintf("redirect_uris_allowed[%d]", i), "%v; write an https URL prefix such as https://company.ncpworkplace.com/", err)
		}
	}
	for i, h := range cl.LogoutRedirectDomains {
		if !hostnameRE.MatchString(h) {
			ps.Addf(fmt.Sprintf("logout_redirect_domains[%d]", i), "must be a lower-case host name only (no scheme, port or path), e.g. company.ncpworkplace.com")
		}
	}
	if cl.SPLogoutURL == "" {
		ps.Addf("sp_logout_url", "is empty: set company (workplace) or the SP's logout URL")
	} else if _, err := parseStrictURL(cl.SPLogoutURL, insecure); err != nil {
		ps.Addf("sp_logout_url", "%v; write the SP's https logout URL", err)
	}
	if cl.AccessTokenLifetime < time.Minute || cl.AccessTokenLifetime > MaxAccessTokenLifetime {
		ps.Addf("access_token_lifetime", "must be between 1m and %s", MaxAccessTokenLifetime)
	}
	// Without a known profile these have no default: profile is the problem.
	if (knownProfile || cl.ExpiresInType != "") && cl.ExpiresInType != "string" && cl.ExpiresInType != "number" {
		ps.Addf("expires_in_type", "must be \"string\" or \"number\"")
	}
	if strings.TrimSpace(cl.UserinfoAttribute) == "" {
		ps.Addf("userinfo_attribute", "must name a directory attribute (default mail)")
	}
	if (knownProfile || cl.UserinfoField != "") && cl.UserinfoField != "email_id" && cl.UserinfoField != "user_id" {
		ps.Addf("userinfo_field", "must be \"email_id\" (WORKPLACE) or \"user_id\" (NAVER WORKS)")
	}
	return ps
}

// secretDigest is what a client secret is compared against: SHA-256 of the
// secret. Comparing fixed-length digests in constant time hides the secret's
// length as well as its content.
type secretDigest [sha256.Size]byte

func parseSecretHash(s string) (secretDigest, error) {
	var d secretDigest
	hexPart, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(hexPart) != 2*sha256.Size {
		return d, fmt.Errorf("oauthsso: unsupported client_secret_hash format")
	}
	b, err := hex.DecodeString(hexPart)
	if err != nil {
		return d, fmt.Errorf("oauthsso: client_secret_hash: %w", err)
	}
	copy(d[:], b)
	return d, nil
}
