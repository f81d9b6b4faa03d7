package ldapauth

import (
	"slices"
	"strings"

	"github.com/ncp-sso/idp/idp"
)

// PresetActiveDirectory is the value of ldap.preset that fills the defaults
// an Active Directory domain needs (see ADConfig and Config.SetDefaults).
const PresetActiveDirectory = "active_directory"

// Login forms accepted with the Active Directory preset
// (active_directory.login_forms).
const (
	// FormSAMAccountName: "alice", matched against sAMAccountName.
	FormSAMAccountName = "sam_account_name"
	// FormDomainUser: "EXAMPLE\alice", the NetBIOS domain and sAMAccountName.
	FormDomainUser = "domain_user"
	// FormUserPrincipalName: "alice@corp.example", matched against
	// userPrincipalName (and, for active_directory.upn_suffixes, against
	// sAMAccountName).
	FormUserPrincipalName = "user_principal_name"
	// FormMail: "alice.kim@example.com", matched against mail.
	FormMail = "mail"
)

// Defaults of the Active Directory preset.
const (
	DefaultADUserFilter       = "(&(objectCategory=person)(objectClass=user))"
	DefaultADGroupFilter      = "(objectClass=group)"
	DefaultADSubjectAttribute = "objectGUID"
	DefaultADUsernameAttr     = "sAMAccountName"
	DefaultADNameAttribute    = "displayName"
	// DefaultMaxNestingDepth bounds the generic nested-group recursion.
	DefaultMaxNestingDepth = 8

	maxNestingDepth = 64
)

// DefaultADLoginForms are the forms accepted when active_directory.login_forms
// is empty.
var DefaultADLoginForms = []string{FormSAMAccountName, FormDomainUser, FormUserPrincipalName, FormMail}

// DefaultADEmailFallback is attributes.email_fallback with the preset.
var DefaultADEmailFallback = []string{"userPrincipalName"}

// ADConfig is the `ldap.active_directory:` section, read only with
// preset: active_directory.
type ADConfig struct {
	// LoginForms are the ways a user may type their name: sam_account_name
	// ("alice"), domain_user ("EXAMPLE\alice"), user_principal_name
	// ("alice@corp.example"), mail ("alice.kim@example.com"). Default all
	// four. Setting user.login_attributes or user.filter_template instead
	// replaces them.
	LoginForms []string `yaml:"login_forms"`
	// NetBIOSDomains are the domains accepted before the backslash of
	// "DOMAIN\user", compared case-insensitively. Default empty: any
	// domain (the search base decides which domain is asked).
	NetBIOSDomains []string `yaml:"netbios_domains"`
	// UPNSuffixes are suffixes for which "user@suffix" is also matched as
	// sAMAccountName=user (the default UPN of a domain is
	// sAMAccountName@dns-domain). Login throttling then counts "alice",
	// "EXAMPLE\alice" and "alice@suffix" as one account. Default none.
	UPNSuffixes []string `yaml:"upn_suffixes"`
}

// isAD reports whether the Active Directory preset is selected.
func (c *Config) isAD() bool { return c.Preset == PresetActiveDirectory }

// setADDefaults fills the zero values the Active Directory preset changes;
// it runs before the generic defaults so that explicit keys always win.
func (c *Config) setADDefaults() {
	u, a, g, ad := &c.User, &c.Attributes, &c.Groups, &c.ActiveDirectory
	custom := u.FilterTemplate != "" || len(u.LoginAttributes) > 0
	if u.FilterTemplate == "" && u.Filter == "" {
		u.Filter = DefaultADUserFilter
	}
	if !custom && len(ad.LoginForms) == 0 {
		ad.LoginForms = slices.Clone(DefaultADLoginForms)
	}
	if a.Subject == "" {
		a.Subject = DefaultADSubjectAttribute
	}
	if a.Username == "" {
		a.Username = DefaultADUsernameAttr
	}
	if a.DisplayName == "" {
		a.DisplayName = DefaultADNameAttribute
	}
	if a.EmailFallback == nil {
		a.EmailFallback = slices.Clone(DefaultADEmailFallback)
	}
	if g.Nested == nil {
		t := true
		g.Nested = &t
	}
	if g.BaseDN != "" && g.Filter == "" {
		g.Filter = DefaultADGroupFilter
	}
}

func (ad *ADConfig) validate(c *Config) idp.Problems {
	var ps idp.Problems
	if !c.isAD() {
		if len(ad.LoginForms)+len(ad.NetBIOSDomains)+len(ad.UPNSuffixes) > 0 {
			ps.Addf("", "is read only with preset: %s; set the preset or remove this section", PresetActiveDirectory)
		}
		return ps
	}
	if len(ad.LoginForms) > 0 && (c.User.FilterTemplate != "" || len(c.User.LoginAttributes) > 0) {
		ps.Addf("login_forms", "contradicts user.login_attributes / user.filter_template; keep one of them")
	}
	for i, f := range ad.LoginForms {
		if !slices.Contains(DefaultADLoginForms, f) {
			ps.Addf("login_forms["+itoa(i)+"]", "unknown form %q; use %s", f, strings.Join(DefaultADLoginForms, ", "))
		}
	}
	for i, d := range ad.NetBIOSDomains {
		if d == "" || strings.ContainsAny(d, `\@ `) || len(d) > 15 {
			ps.Addf("netbios_domains["+itoa(i)+"]", "%q is not a NetBIOS domain name (e.g. EXAMPLE, at most 15 characters)", d)
		}
	}
	for i, s := range ad.UPNSuffixes {
		if s == "" || strings.ContainsAny(s, `\@ `) {
			ps.Addf("upn_suffixes["+itoa(i)+"]", "%q is not a UPN suffix; write it without @, e.g. corp.example", s)
		}
	}
	return ps
}

func (ad ADConfig) clone() ADConfig {
	ad.LoginForms = slices.Clone(ad.LoginForms)
	ad.NetBIOSDomains = slices.Clone(ad.NetBIOSDomains)
	ad.UPNSuffixes = slices.Clone(ad.UPNSuffixes)
	return ad
}
