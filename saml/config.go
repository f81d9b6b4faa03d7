package saml

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/ncp-sso/idp/certs"
	"github.com/ncp-sso/idp/idp"
)

// Profiles of service providers.
const (
	ProfileWorkplace  = "workplace"  // NCP WORKPLACE
	ProfileNaverWorks = "naverworks" // NAVER WORKS / LINE WORKS
	ProfileMetadata   = "metadata"   // any SAML SP described by its metadata XML
)

// Defaults.
const (
	DefaultClockSkew           = 3 * time.Minute
	DefaultRequestLifetime     = 30 * time.Minute
	DefaultAssertionLifetime   = 5 * time.Minute
	DefaultSessionNotOnOrAfter = 8 * time.Hour
	DefaultNameIDAttribute     = "mail"
	NameIDFormatUnspecified    = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"

	workplaceEntityID  = "ncpworkplace.com"
	naverworksEntityID = "worksmobile.com"
	naverworksACS      = "https://auth.worksmobile.com/acs/"
	naverworksLogout   = "auth.worksmobile.com"
)

// Config is the `saml:` section.
type Config struct {
	// EntityID is the IdP entity ID ("IdP Issuer" in the console). Default:
	// the server's public URL + "/saml/metadata".
	EntityID string `yaml:"entity_id"`
	// Signing selects the key pair(s) that sign Responses.
	Signing SigningConfig `yaml:"signing"`
	// SignResponse signs the whole Response (the vendor sample does). Default true.
	SignResponse *bool `yaml:"sign_response"`
	// SignAssertion signs the Assertion as well. Default true.
	SignAssertion *bool `yaml:"sign_assertion"`
	// ClockSkew is how far an AuthnRequest's IssueInstant may lie in the past
	// or the future. Default 3m.
	ClockSkew time.Duration `yaml:"clock_skew"`
	// RequestLifetime is how long a validated AuthnRequest waits for the user
	// to log in. Default 30m (the SP's own limit).
	RequestLifetime time.Duration `yaml:"request_lifetime"`
	// AssertionLifetime is the Conditions / SubjectConfirmationData window.
	// Default 5m.
	AssertionLifetime time.Duration `yaml:"assertion_lifetime"`
	// SessionNotOnOrAfter is how long after authentication the SP may keep the
	// user logged in (AuthnStatement SessionNotOnOrAfter). Default 8h.
	SessionNotOnOrAfter time.Duration `yaml:"session_not_on_or_after"`
	// ServiceProviders lists the SPs allowed to ask for assertions.
	ServiceProviders []ServiceProviderConfig `yaml:"service_providers"`
}

// SigningConfig names the signing key pairs.
type SigningConfig struct {
	// KeyFile is the PEM private key (mode 0600), CertFile its certificate.
	KeyFile  string `yaml:"key_file"`
	CertFile string `yaml:"cert_file"`
	// NextKeyFile / NextCertFile are the rollover pair: its certificate is
	// published in the metadata next to the current one.
	NextKeyFile  string `yaml:"next_key_file"`
	NextCertFile string `yaml:"next_cert_file"`
	// UseNext signs with the next pair instead of the current one (after the
	// SP console has the next certificate). Default false.
	UseNext bool `yaml:"use_next"`
	// InsecureEphemeralKey makes a throw-away key pair at start-up when no
	// key files are set: for demos only, the certificate changes on every
	// restart. Default false.
	InsecureEphemeralKey bool `yaml:"insecure_ephemeral_key"`
}

// ServiceProviderConfig is one SP.
type ServiceProviderConfig struct {
	// Name identifies the SP in logs and on the login page ("NCP WORKPLACE").
	Name string `yaml:"name"`
	// Profile is workplace, naverworks or metadata.
	Profile string `yaml:"profile"`
	// Company is the WORKPLACE company ID: ACS origin https://{company}.ncpworkplace.com.
	Company string `yaml:"company"`
	// Domain is the NAVER WORKS domain (the ACS is https://auth.worksmobile.com/acs/{domain}).
	Domain string `yaml:"domain"`
	// EntityID is the SP's Issuer. Default: ncpworkplace.com (workplace),
	// worksmobile.com (naverworks), the metadata's entityID (metadata).
	EntityID string `yaml:"entity_id"`
	// ACSAllowed lists allowed ACS URLs. An entry ending in "/" (or a bare
	// https origin) allows every URL under that path; any other entry allows
	// exactly that URL. Default: workplace https://{company}.ncpworkplace.com/,
	// naverworks https://auth.worksmobile.com/acs/{domain} (domain is then
	// required). Not used for metadata SPs (their ACS list is exact).
	ACSAllowed []string `yaml:"acs_allowed"`
	// DefaultACS is used when an AuthnRequest names no ACS URL. It must be
	// allowed. Default: none (metadata SPs: the metadata's default ACS).
	DefaultACS string `yaml:"default_acs"`
	// MetadataFile is the SP metadata XML (metadata profile only). When it
	// says AuthnRequestsSigned="true", requests must carry a valid signature
	// by the SP certificate it contains.
	MetadataFile string `yaml:"metadata_file"`
	// NameIDAttribute is the directory attribute sent as NameID. Default mail.
	NameIDAttribute string `yaml:"nameid_attribute"`
	// NameIDFormat is the NameID Format. Default
	// urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified.
	NameIDFormat string `yaml:"nameid_format"`
	// Attributes maps SAML attribute names to directory attributes, sent in
	// an AttributeStatement. Default none.
	Attributes map[string]string `yaml:"attributes"`
	// LogoutRedirectDomains are the hosts /saml/logout may redirect to (exact
	// host match). Default: workplace {company}.ncpworkplace.com, naverworks
	// auth.worksmobile.com.
	LogoutRedirectDomains []string `yaml:"logout_redirect_domains"`
	// CertificateFile is the SP's own signing certificate (PEM), e.g. the
	// SAML certificate of the NAVER WORKS admin console. When set, a Single
	// Logout request from this SP must be signed with it (and name this
	// IdP's /saml/logout as its Destination). Metadata SPs take theirs from
	// the metadata. Default none: Single Logout requests are then answered
	// unverified.
	CertificateFile string `yaml:"certificate_file"`
	// LoginAPIFrom turns on NAVER WORKS's IMAP/CalDAV login API
	// (/saml/api/login) for this naverworks SP, for callers from these
	// addresses or networks (CIDR): NAVER WORKS's servers. Anyone else
	// could use the API to try passwords without the login page's
	// per-address limit. Default none: the API is off.
	LoginAPIFrom []string `yaml:"login_api_from"`
}

// SetDefaults fills zero values with the documented defaults.
func (c *Config) SetDefaults() {
	yes := true
	if c.SignResponse == nil {
		c.SignResponse = &yes
	}
	if c.SignAssertion == nil {
		c.SignAssertion = &yes
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = DefaultClockSkew
	}
	if c.RequestLifetime == 0 {
		c.RequestLifetime = DefaultRequestLifetime
	}
	if c.AssertionLifetime == 0 {
		c.AssertionLifetime = DefaultAssertionLifetime
	}
	if c.SessionNotOnOrAfter == 0 {
		c.SessionNotOnOrAfter = DefaultSessionNotOnOrAfter
	}
	for i := range c.ServiceProviders {
		c.ServiceProviders[i].setDefaults()
	}
}

func (s *ServiceProviderConfig) setDefaults() {
	s.Profile = strings.ToLower(strings.TrimSpace(s.Profile))
	if s.NameIDAttribute == "" {
		s.NameIDAttribute = DefaultNameIDAttribute
	}
	if s.NameIDFormat == "" {
		s.NameIDFormat = NameIDFormatUnspecified
	}
	switch s.Profile {
	case ProfileWorkplace:
		if s.EntityID == "" {
			s.EntityID = workplaceEntityID
		}
		if s.Name == "" {
			s.Name = "NCP WORKPLACE"
		}
		if companyRE.MatchString(s.Company) {
			host := s.Company + ".ncpworkplace.com"
			if len(s.ACSAllowed) == 0 {
				s.ACSAllowed = []string{"https://" + host + "/"}
			}
			if len(s.LogoutRedirectDomains) == 0 {
				s.LogoutRedirectDomains = []string{host}
			}
		}
	case ProfileNaverWorks:
		if s.EntityID == "" {
			s.EntityID = naverworksEntityID
		}
		if s.Name == "" {
			s.Name = "NAVER WORKS"
		}
		// Without a valid domain the list stays empty and Validate says
		// so: every WORKS company's ACS is under naverworksACS.
		if len(s.ACSAllowed) == 0 && validWorksDomain(s.Domain) {
			s.ACSAllowed = []string{naverworksACS + s.Domain}
		}
		if len(s.LogoutRedirectDomains) == 0 {
			s.LogoutRedirectDomains = []string{naverworksLogout}
		}
	}
}

// companyRE is a DNS label: what {company} must be to form a host name.
var companyRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// hostRE is a lower-case ASCII DNS name.
var hostRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)

// Validate reports every problem at once; keys are relative to `saml`.
func (c *Config) Validate() idp.Problems {
	var ps idp.Problems
	if c.EntityID != "" && !isAbsoluteURIOrName(c.EntityID) {
		ps.Addf("entity_id", "must be a URL or URN without spaces (default: the public URL + /saml/metadata)")
	}
	ps.Merge("signing", c.Signing.validate())
	if c.SignResponse != nil && c.SignAssertion != nil && !*c.SignResponse && !*c.SignAssertion {
		ps.Addf("sign_response", "sign_response and sign_assertion are both false; at least one must be true, or the SP would accept forged logins")
	}
	for _, d := range []struct {
		key string
		v   time.Duration
		max time.Duration
	}{
		{"clock_skew", c.ClockSkew, time.Hour},
		{"request_lifetime", c.RequestLifetime, 24 * time.Hour},
		{"assertion_lifetime", c.AssertionLifetime, time.Hour},
		{"session_not_on_or_after", c.SessionNotOnOrAfter, 30 * 24 * time.Hour},
	} {
		if d.v <= 0 || d.v > d.max {
			ps.Addf(d.key, "must be a positive duration of at most %s (e.g. \"5m\"); got %s", d.max, d.v)
		}
	}
	if len(c.ServiceProviders) == 0 {
		ps.Addf("service_providers", "list at least one SP (profile workplace, naverworks or metadata)")
	}
	seenEntity, seenName := map[string]int{}, map[string]int{}
	for i, sp := range c.ServiceProviders {
		key := fmt.Sprintf("service_providers[%d]", i)
		ps.Merge(key, sp.validate())
		if eid := sp.EntityID; eid != "" {
			if j, dup := seenEntity[eid]; dup {
				ps.Addf(key+".entity_id", "%q is also the entity ID of service_providers[%d]; each SP needs its own entity ID", eid, j)
			}
			seenEntity[eid] = i
		}
		if j, dup := seenName[sp.Name]; dup && sp.Name != "" {
			ps.Addf(key+".name", "%q is also the name of service_providers[%d]; names must be unique", sp.Name, j)
		}
		seenName[sp.Name] = i
	}
	return ps
}

func (s SigningConfig) validate() idp.Problems {
	var ps idp.Problems
	switch {
	case s.KeyFile == "" && s.CertFile == "" && !s.InsecureEphemeralKey:
		ps.Addf("key_file", "set key_file and cert_file (make them with `idp keygen --out PREFIX`)")
	case (s.KeyFile == "") != (s.CertFile == ""):
		ps.Addf("key_file", "key_file and cert_file must be set together")
	case s.KeyFile != "" && s.InsecureEphemeralKey:
		ps.Addf("insecure_ephemeral_key", "remove insecure_ephemeral_key when key_file is set")
	}
	if (s.NextKeyFile == "") != (s.NextCertFile == "") {
		ps.Addf("next_key_file", "next_key_file and next_cert_file must be set together")
	}
	if s.UseNext && s.NextKeyFile == "" {
		ps.Addf("use_next", "use_next needs next_key_file and next_cert_file")
	}
	return ps
}

func (s ServiceProviderConfig) validate() idp.Problems {
	var ps idp.Problems
	if strings.TrimSpace(s.Name) == "" {
		ps.Addf("name", "give the SP a name (shown on the login page)")
	}
	switch s.Profile {
	case ProfileWorkplace:
		if !companyRE.MatchString(s.Company) {
			ps.Addf("company", "set the WORKPLACE company ID: the lower-case DNS label in https://{company}.ncpworkplace.com")
		}
	case ProfileNaverWorks:
		switch {
		case s.Domain != "" && !validWorksDomain(s.Domain):
			ps.Addf("domain", "must be the NAVER WORKS domain as it appears in https://auth.worksmobile.com/acs/{domain}")
		case s.Domain == "" && len(s.ACSAllowed) == 0:
			// Every WORKS company shares the entity ID worksmobile.com, so
			// without the domain an AuthnRequest naming another company's
			// ACS would be answered with our employee's assertion.
			ps.Addf("domain", "set the NAVER WORKS domain as it appears in https://auth.worksmobile.com/acs/{domain}; without it any WORKS company's ACS would receive our employees' assertions (to allow every company on purpose, set acs_allowed: [%q])", naverworksACS)
		}
	case ProfileMetadata:
		if s.MetadataFile == "" {
			ps.Addf("metadata_file", "set the SP metadata XML file for profile metadata")
		} else if raw, err := os.ReadFile(s.MetadataFile); err != nil {
			ps.Addf("metadata_file", "cannot read: %v", err)
		} else if _, err := parseSPMetadata(raw); err != nil {
			ps.Addf("metadata_file", "%v", err)
		}
		if len(s.ACSAllowed) > 0 {
			ps.Addf("acs_allowed", "not used for profile metadata: the ACS URLs come from the metadata; remove it")
		}
		if s.CertificateFile != "" {
			ps.Addf("certificate_file", "not used for profile metadata: the SP's certificate comes from the metadata; remove it")
		}
	default:
		ps.Addf("profile", "must be workplace, naverworks or metadata; got %q", s.Profile)
	}
	if s.Profile == ProfileWorkplace || s.Profile == ProfileNaverWorks {
		if s.EntityID == "" || !isAbsoluteURIOrName(s.EntityID) {
			ps.Addf("entity_id", "must be the SP's Issuer value without spaces")
		}
		for j, a := range s.ACSAllowed {
			if _, err := parseAllowEntry(a); err != nil {
				ps.Addf(fmt.Sprintf("acs_allowed[%d]", j), "%v", err)
			}
		}
		if m, err := newACSMatcher(s.ACSAllowed); err == nil && s.DefaultACS != "" && m.check(s.DefaultACS) != nil {
			ps.Addf("default_acs", "%q is not allowed by acs_allowed", s.DefaultACS)
		}
	}
	for j, a := range s.LoginAPIFrom {
		if s.Profile != ProfileNaverWorks {
			ps.Addf("login_api_from", "only a naverworks SP has the login API; remove it")
			break
		}
		if _, err := idp.ParseNetwork(a); err != nil {
			ps.Addf(fmt.Sprintf("login_api_from[%d]", j), "%q is not an IP address or CIDR network (e.g. 203.0.113.0/24)", a)
		}
	}
	if s.CertificateFile != "" && s.Profile != ProfileMetadata {
		if _, err := certs.LoadCertificate(s.CertificateFile); err != nil {
			ps.Addf("certificate_file", "%v (the SP's signing certificate as PEM, e.g. downloaded from the NAVER WORKS admin console)", err)
		}
	}
	if s.NameIDAttribute == "" {
		ps.Addf("nameid_attribute", "name the directory attribute sent as NameID (e.g. mail)")
	}
	if strings.ContainsAny(s.NameIDFormat, " \t\r\n") || !strings.HasPrefix(s.NameIDFormat, "urn:") {
		ps.Addf("nameid_format", "must be a urn: value such as %s", NameIDFormatUnspecified)
	}
	for name, attr := range s.Attributes {
		if name == "" || strings.ContainsAny(name, "\x00\r\n") || attr == "" {
			ps.Addf("attributes", "entry %q: %q must map a non-empty SAML attribute name to a directory attribute", name, attr)
		}
	}
	for j, d := range s.LogoutRedirectDomains {
		if !hostRE.MatchString(d) {
			ps.Addf(fmt.Sprintf("logout_redirect_domains[%d]", j), "%q must be a lower-case host name such as acme.ncpworkplace.com (no scheme, port or path)", d)
		}
	}
	return ps
}

// validWorksDomain: a NAVER WORKS domain is a host name or a single label.
func validWorksDomain(d string) bool {
	return hostRE.MatchString(d) || companyRE.MatchString(d)
}

// isAbsoluteURIOrName accepts an entity ID: a URL, a URN, or a bare name like
// "ncpworkplace.com", without whitespace or control characters.
func isAbsoluteURIOrName(s string) bool {
	if s == "" || len(s) > 1024 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		return err == nil && u.Host != ""
	}
	return true
}
