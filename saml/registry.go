package saml

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"

	"github.com/ncp-sso/idp/certs"
	"github.com/ncp-sso/idp/idp"
)

// serviceProvider is a validated, immutable SP entry.
type serviceProvider struct {
	name     string
	profile  string
	entityID string
	// Profile SPs: ACS allowlist. Metadata SPs: exact ACS list.
	matcher    acsMatcher
	exactACS   []string
	acsByIndex map[int]string
	defaultACS string
	// requestsSigned: every AuthnRequest must be signed by one of certs.
	requestsSigned bool
	certs          []*x509.Certificate
	nameIDAttr     string
	nameIDFormat   string
	// attributes are sorted by SAML name so Responses are deterministic.
	attributes    []attributeMapping
	logoutDomains []string
	// sloResponse is where the SP's metadata takes LogoutResponses
	// (HTTP-Redirect); "" when it names none.
	sloResponse string
	// loginAPIFrom are the networks that may call the login API (none:
	// it is off for this SP).
	loginAPIFrom []netip.Prefix
}

// loginAPIAllowed reports whether ip may call the login API for some SP.
func (r *registry) loginAPIAllowed(ip string) bool {
	for _, sp := range r.all {
		if sp.loginAPIAllowed(ip) {
			return true
		}
	}
	return false
}

// loginAPIAllowed reports whether ip may call the login API for sp.
func (sp *serviceProvider) loginAPIAllowed(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range sp.loginAPIFrom {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

type attributeMapping struct {
	samlName, dirAttr string
}

// checkACS returns nil when acs may receive assertions for this SP.
func (sp *serviceProvider) checkACS(acs string) error {
	if sp.profile == ProfileMetadata {
		for _, a := range sp.exactACS {
			if a == acs {
				return nil
			}
		}
		return fmt.Errorf("%w: not an AssertionConsumerService of the metadata", errACSNotAllowed)
	}
	return sp.matcher.check(acs)
}

// registry holds the SPs by entity ID and by name.
type registry struct {
	byEntityID map[string]*serviceProvider
	byName     map[string]*serviceProvider
	all        []*serviceProvider
}

// newRegistry builds the SP registry from a defaulted, validated Config.
func newRegistry(cfgs []ServiceProviderConfig) (*registry, error) {
	r := &registry{byEntityID: map[string]*serviceProvider{}, byName: map[string]*serviceProvider{}}
	for i, c := range cfgs {
		sp := &serviceProvider{
			name:          c.Name,
			profile:       c.Profile,
			entityID:      c.EntityID,
			defaultACS:    c.DefaultACS,
			nameIDAttr:    c.NameIDAttribute,
			nameIDFormat:  c.NameIDFormat,
			logoutDomains: c.LogoutRedirectDomains,
		}
		for samlName, dirAttr := range c.Attributes {
			sp.attributes = append(sp.attributes, attributeMapping{samlName: samlName, dirAttr: dirAttr})
		}
		sort.Slice(sp.attributes, func(a, b int) bool { return sp.attributes[a].samlName < sp.attributes[b].samlName })
		if c.Profile == ProfileMetadata {
			raw, err := os.ReadFile(c.MetadataFile)
			if err != nil {
				return nil, fmt.Errorf("saml: service_providers[%d]: %w", i, err)
			}
			md, err := parseSPMetadata(raw)
			if err != nil {
				return nil, fmt.Errorf("saml: service_providers[%d]: %s: %w", i, c.MetadataFile, err)
			}
			if sp.entityID == "" {
				sp.entityID = md.entityID
			}
			sp.exactACS = md.acsList
			sp.acsByIndex = md.acs
			if sp.defaultACS == "" {
				sp.defaultACS = md.defaultACS
			}
			sp.requestsSigned = md.requestsSigned
			sp.certs = md.signingCerts
			sp.sloResponse = md.sloResponse
			if len(sp.logoutDomains) == 0 {
				seen := map[string]bool{}
				for _, a := range md.acsList {
					if h := hostOf(a); h != "" && !seen[h] {
						seen[h] = true
						sp.logoutDomains = append(sp.logoutDomains, h)
					}
				}
			}
		} else {
			m, err := newACSMatcher(c.ACSAllowed)
			if err != nil {
				return nil, fmt.Errorf("saml: service_providers[%d].acs_allowed: %w", i, err)
			}
			sp.matcher = m
			for _, a := range c.LoginAPIFrom {
				pfx, err := idp.ParseNetwork(a)
				if err != nil {
					return nil, fmt.Errorf("saml: service_providers[%d].login_api_from: %q: %w", i, a, err)
				}
				sp.loginAPIFrom = append(sp.loginAPIFrom, pfx)
			}
			if c.CertificateFile != "" {
				cert, err := certs.LoadCertificate(c.CertificateFile)
				if err != nil {
					return nil, fmt.Errorf("saml: service_providers[%d].certificate_file: %w", i, err)
				}
				sp.certs = []*x509.Certificate{cert}
			}
		}
		if sp.defaultACS != "" {
			if err := sp.checkACS(sp.defaultACS); err != nil {
				return nil, fmt.Errorf("saml: service_providers[%d].default_acs: %w", i, err)
			}
		}
		if _, dup := r.byEntityID[sp.entityID]; dup {
			return nil, fmt.Errorf("saml: service_providers[%d]: entity ID %q is used twice", i, sp.entityID)
		}
		r.byEntityID[sp.entityID] = sp
		r.byName[sp.name] = sp
		r.all = append(r.all, sp)
	}
	return r, nil
}

// logoutURLAllowed reports whether u may be sent to after a logout for
// this SP: a plain https URL (checkURLSyntax), on port 443, whose host is
// one of the SP's logout redirect domains (exact, case-insensitive).
func (sp *serviceProvider) logoutURLAllowed(u string) bool {
	if checkURLSyntax(u) != nil {
		return false
	}
	if port := portOf(u); port != "" && port != "443" {
		return false
	}
	host := strings.ToLower(hostOf(u))
	for _, d := range sp.logoutDomains {
		if d == host {
			return true
		}
	}
	return false
}
