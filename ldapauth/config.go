package ldapauth

import (
	"crypto/x509"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/ncp-sso/idp/idp"
)

// Defaults applied by SetDefaults.
const (
	DefaultDialTimeout      = 5 * time.Second
	DefaultRequestTimeout   = 10 * time.Second
	DefaultPoolSize         = 4
	DefaultUserScope        = "sub"
	DefaultUserFilter       = "(objectClass=inetOrgPerson)"
	DefaultSubjectAttribute = "entryUUID"
	DefaultEmailAttribute   = "mail"
	DefaultNameAttribute    = "cn"
	DefaultMemberAttribute  = "member"
	DefaultGroupScope       = "sub"
	// DefaultPoolMaxIdle retires pooled connections idle this long, well
	// before Active Directory's own idle cut-off (MaxConnIdleTime, 900 s).
	DefaultPoolMaxIdle = 5 * time.Minute
	// maxPoolIdle is the largest accepted pool_max_idle: AD drops idle
	// connections at 900 s.
	maxPoolIdle = 14 * time.Minute

	// UsernamePlaceholder is replaced in user.filter_template by the typed
	// username, escaped for an LDAP filter.
	UsernamePlaceholder = "{username}"

	maxPoolSize = 64
)

// DefaultLoginAttributes are the attributes a typed username is matched
// against when user.login_attributes is empty.
var DefaultLoginAttributes = []string{"uid", "mail"}

// Config is the `ldap:` section of the configuration file.
type Config struct {
	// Preset fills the defaults of a directory product: "active_directory"
	// (sAMAccountName / UPN / DOMAIN\user / mail logins, objectGUID
	// subject, nested groups, AD account states). Every key set explicitly
	// still wins. Default empty: generic LDAP (OpenLDAP, 389-DS).
	Preset string `yaml:"preset"`
	// URLs are the directory servers, tried in order (ldap:// or ldaps://,
	// e.g. "ldaps://dc1.corp.example:636"). Required.
	URLs []string `yaml:"urls"`
	// StartTLS upgrades ldap:// connections with the StartTLS operation.
	// Default true; false requires InsecureNoTLS.
	StartTLS *bool `yaml:"start_tls"`
	// CAFile is a PEM file of the CAs that sign the servers' certificates
	// (ldaps:// and StartTLS). Default: the system roots.
	CAFile string `yaml:"ca_file"`
	// ServerName overrides the name the certificate is checked against.
	// Default: the host of each URL.
	ServerName string `yaml:"server_name"`
	// InsecureNoTLS allows ldap:// URLs without StartTLS: passwords then
	// cross the network in clear text. Default false.
	InsecureNoTLS bool `yaml:"insecure_no_tls"`
	// DialTimeout bounds connecting to one server, including the TLS
	// handshake of ldaps://. Default 5s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// RequestTimeout bounds each LDAP operation (StartTLS, bind, search)
	// on one server. Default 10s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// BindDN is the service account that searches for users, e.g.
	// "cn=idp,ou=services,dc=corp,dc=example". Required unless
	// AnonymousBind.
	BindDN string `yaml:"bind_dn"`
	// BindPassword is the service account's password.
	BindPassword string `yaml:"bind_password"`
	// BindPasswordFile names a file holding BindPassword; the config loader
	// reads it into BindPassword.
	BindPasswordFile string `yaml:"bind_password_file"`
	// AnonymousBind searches without a service account. Default false.
	AnonymousBind bool `yaml:"anonymous_bind"`
	// PoolSize is the number of service-account connections kept open and
	// the most used at once. Default 4.
	PoolSize int `yaml:"pool_size"`
	// PoolMaxIdle closes a pooled connection that was idle this long (a
	// connection idle for more than 30s is also health-checked before
	// reuse). At most 14m, below AD's 900 s idle cut-off. Default 5m.
	PoolMaxIdle time.Duration `yaml:"pool_max_idle"`

	User            UserConfig       `yaml:"user"`
	Attributes      AttributesConfig `yaml:"attributes"`
	Groups          GroupsConfig     `yaml:"groups"`
	ActiveDirectory ADConfig         `yaml:"active_directory"`
}

// UserConfig says how a typed username is turned into one directory entry.
type UserConfig struct {
	// BaseDN is where users are searched, e.g. "ou=people,dc=corp,dc=example".
	// Required.
	BaseDN string `yaml:"base_dn"`
	// Scope is "sub" (the whole subtree, default) or "one" (direct children).
	Scope string `yaml:"scope"`
	// Filter is ANDed with the login-attribute match. Default
	// "(objectClass=inetOrgPerson)".
	Filter string `yaml:"filter"`
	// LoginAttributes are matched against the typed username, any of them
	// may match. Default [uid, mail].
	LoginAttributes []string `yaml:"login_attributes"`
	// FilterTemplate replaces Filter and LoginAttributes with a complete
	// filter in which {username} stands for the escaped username, e.g.
	// "(&(objectClass=user)(sAMAccountName={username}))". Default empty.
	FilterTemplate string `yaml:"filter_template"`
}

// AttributesConfig maps directory attributes onto the Identity.
type AttributesConfig struct {
	// Subject is the stable user ID. Default entryUUID; an entry without it
	// uses its DN.
	Subject string `yaml:"subject"`
	// Username is the login name as the directory spells it. Default: the
	// first login attribute (uid), or uid with a filter template; an entry
	// without it uses the typed username.
	Username string `yaml:"username"`
	// Email is the login e-mail. Default mail.
	Email string `yaml:"email"`
	// EmailFallback are tried in order when the entry has no Email value,
	// e.g. [userPrincipalName]. Default none; [userPrincipalName] with the
	// active_directory preset.
	EmailFallback []string `yaml:"email_fallback"`
	// DisplayName is shown on our pages. Default cn.
	DisplayName string `yaml:"display_name"`
	// Extra attributes are copied into Identity.Attributes under their
	// names, for claims and SAML attributes. Default none. Password
	// attributes are refused.
	Extra []string `yaml:"extra"`
}

// GroupsConfig restricts sign-in to members of groups and resolves the
// user's groups, directly or through nested groups.
type GroupsConfig struct {
	// Required are group DNs; a user must be a member of at least one
	// (directly, or through nested groups with Nested). Default empty:
	// every authenticated user may sign in.
	Required []string `yaml:"required"`
	// BaseDN, when set, is searched for every group the user is a member
	// of; they fill Identity.Groups. When empty, only the required groups
	// are checked, each by its DN. Default empty.
	BaseDN string `yaml:"base_dn"`
	// Scope of the BaseDN search: "sub" (default) or "one".
	Scope string `yaml:"scope"`
	// Filter is ANDed with the membership match, e.g.
	// "(objectClass=groupOfNames)". Default none.
	Filter string `yaml:"filter"`
	// MemberAttribute is the group attribute listing members. Default member.
	MemberAttribute string `yaml:"member_attribute"`
	// UserAttribute is the user attribute whose value the group lists, e.g.
	// uid for posixGroup's memberUid. Default empty: the user's DN.
	UserAttribute string `yaml:"user_attribute"`
	// Nested follows groups that are members of groups. On Active
	// Directory (preset) the server resolves the whole chain with
	// LDAP_MATCHING_RULE_IN_CHAIN; elsewhere groups are searched level by
	// level under BaseDN (required), at most MaxDepth levels, cycles
	// harmless. Default false; true with the active_directory preset.
	Nested *bool `yaml:"nested"`
	// MaxDepth bounds the levels of the generic nested search. Default 8.
	MaxDepth int `yaml:"max_depth"`
}

// SetDefaults fills zero values with the documented defaults.
func (c *Config) SetDefaults() {
	if c.isAD() {
		c.setADDefaults()
	}
	if c.PoolMaxIdle == 0 {
		c.PoolMaxIdle = DefaultPoolMaxIdle
	}
	if c.StartTLS == nil {
		t := c.useStartTLS()
		c.StartTLS = &t
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.PoolSize == 0 {
		c.PoolSize = DefaultPoolSize
	}
	u := &c.User
	if u.Scope == "" {
		u.Scope = DefaultUserScope
	}
	if u.FilterTemplate == "" {
		if u.Filter == "" {
			u.Filter = DefaultUserFilter
		}
		if len(u.LoginAttributes) == 0 && len(c.ActiveDirectory.LoginForms) == 0 {
			u.LoginAttributes = append([]string(nil), DefaultLoginAttributes...)
		}
	}
	a := &c.Attributes
	if a.Subject == "" {
		a.Subject = DefaultSubjectAttribute
	}
	if a.Username == "" {
		a.Username = "uid"
		if len(u.LoginAttributes) > 0 {
			a.Username = u.LoginAttributes[0]
		}
	}
	if a.Email == "" {
		a.Email = DefaultEmailAttribute
	}
	if a.DisplayName == "" {
		a.DisplayName = DefaultNameAttribute
	}
	g := &c.Groups
	if g.Scope == "" {
		g.Scope = DefaultGroupScope
	}
	if g.MemberAttribute == "" {
		g.MemberAttribute = DefaultMemberAttribute
	}
	if g.Nested == nil {
		f := false
		g.Nested = &f
	}
	if g.MaxDepth == 0 {
		g.MaxDepth = DefaultMaxNestingDepth
	}
}

// attrName matches an attribute description: a name or a numeric OID,
// optionally with options (";binary").
var attrName = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)+)(;[A-Za-z0-9-]+)*$`)

// passwordAttributes are never mapped into an Identity, whatever the
// configuration says (lower case).
var passwordAttributes = map[string]bool{
	"userpassword":            true,
	"authpassword":            true,
	"unicodepwd":              true,
	"dbcspwd":                 true,
	"ntpwdhistory":            true,
	"lmpwdhistory":            true,
	"supplementalcredentials": true,
	"sambantpassword":         true,
	"sambalmpassword":         true,
	"sambapasswordhistory":    true,
	"krbprincipalkey":         true,
	"userpkcs12":              true,
}

func isPasswordAttribute(name string) bool {
	base, _, _ := strings.Cut(name, ";")
	return passwordAttributes[strings.ToLower(base)]
}

// Validate reports every problem of a defaulted Config, with keys relative
// to the section. It reads CAFile but does no network I/O.
func (c *Config) Validate() idp.Problems {
	var ps idp.Problems
	if c.Preset != "" && !c.isAD() {
		ps.Addf("preset", "unknown preset %q; use %s or leave it empty for generic LDAP", c.Preset, PresetActiveDirectory)
	}
	if len(c.URLs) == 0 {
		ps.Addf("urls", "list at least one server, e.g. ldaps://dc1.corp.example:636")
	}
	startTLS := c.useStartTLS()
	for i, raw := range c.URLs {
		key := "urls[" + itoa(i) + "]"
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			ps.Addf(key, "not a URL (%v); write ldaps://host:636 or ldap://host:389", err)
			continue
		case u.Scheme != "ldap" && u.Scheme != "ldaps":
			ps.Addf(key, "scheme %q is not supported; use ldaps:// or ldap:// (with start_tls)", u.Scheme)
			continue
		case u.Hostname() == "":
			ps.Addf(key, "no host; write %s://host:port", u.Scheme)
		case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
			ps.Addf(key, "give only scheme, host and port; base DN and filter have their own keys")
		}
		if u.Scheme == "ldap" && !startTLS && !c.InsecureNoTLS {
			ps.Addf(key, "ldap:// without StartTLS sends passwords in clear text; set start_tls: true, use ldaps://, or set insecure_no_tls: true")
		}
	}
	if c.InsecureNoTLS && startTLS {
		ps.Addf("insecure_no_tls", "contradicts start_tls: true; remove one of them")
	}
	if c.CAFile != "" {
		if _, err := loadCAFile(c.CAFile); err != nil {
			ps.Addf("ca_file", "%v; give a readable PEM file of CA certificates", err)
		}
	}
	if c.DialTimeout < 0 {
		ps.Addf("dial_timeout", "must be positive, e.g. 5s")
	}
	if c.RequestTimeout < 0 {
		ps.Addf("request_timeout", "must be positive, e.g. 10s")
	}
	if c.PoolSize < 1 || c.PoolSize > maxPoolSize {
		ps.Addf("pool_size", "must be between 1 and %d", maxPoolSize)
	}
	if c.PoolMaxIdle < 0 || c.PoolMaxIdle > maxPoolIdle {
		ps.Addf("pool_max_idle", "must be between 1s and %v (Active Directory drops idle connections at 900 s), e.g. 5m", maxPoolIdle)
	}
	switch {
	case c.AnonymousBind && c.BindDN != "":
		ps.Addf("anonymous_bind", "contradicts bind_dn; remove one of them")
	case !c.AnonymousBind && c.BindDN == "":
		ps.Addf("bind_dn", "set the service account's DN (and bind_password), or anonymous_bind: true")
	case c.BindDN != "":
		checkDN(&ps, "bind_dn", c.BindDN)
		if c.BindPassword == "" {
			// An empty password would make the bind unauthenticated
			// (RFC 4513 5.1.2): the server would treat us as anonymous.
			ps.Addf("bind_password", "set the service account's password (or bind_password_file)")
		}
	}
	ps.Merge("user", c.User.validate(len(c.ActiveDirectory.LoginForms) > 0))
	ps.Merge("attributes", c.Attributes.validate())
	ps.Merge("groups", c.Groups.validate(c.isAD()))
	ps.Merge("active_directory", c.ActiveDirectory.validate(c))
	return ps
}

func (u *UserConfig) validate(forms bool) idp.Problems {
	var ps idp.Problems
	if u.BaseDN == "" {
		ps.Addf("base_dn", "set the DN under which users are searched, e.g. ou=people,dc=corp,dc=example")
	} else {
		checkDN(&ps, "base_dn", u.BaseDN)
	}
	checkScope(&ps, "scope", u.Scope)
	if u.FilterTemplate != "" {
		if u.Filter != "" || len(u.LoginAttributes) > 0 {
			ps.Addf("filter_template", "replaces filter and login_attributes; remove those keys")
		}
		if !strings.Contains(u.FilterTemplate, UsernamePlaceholder) {
			ps.Addf("filter_template", "must contain %s where the typed username goes", UsernamePlaceholder)
		} else if _, err := ldap.CompileFilter(strings.ReplaceAll(u.FilterTemplate, UsernamePlaceholder, "x")); err != nil {
			ps.Addf("filter_template", "not a valid LDAP filter (%v)", err)
		}
		return ps
	}
	if u.Filter != "" {
		if _, err := ldap.CompileFilter(wrapFilter(u.Filter)); err != nil {
			ps.Addf("filter", "not a valid LDAP filter (%v), e.g. (objectClass=inetOrgPerson)", err)
		}
	}
	if len(u.LoginAttributes) == 0 && !forms {
		ps.Addf("login_attributes", "list at least one attribute, e.g. [uid, mail]")
	}
	for i, a := range u.LoginAttributes {
		checkAttr(&ps, "login_attributes["+itoa(i)+"]", a)
	}
	return ps
}

func (a *AttributesConfig) validate() idp.Problems {
	var ps idp.Problems
	for _, f := range []struct{ key, val string }{
		{"subject", a.Subject}, {"username", a.Username}, {"email", a.Email}, {"display_name", a.DisplayName},
	} {
		checkAttr(&ps, f.key, f.val)
	}
	for i, x := range a.Extra {
		checkAttr(&ps, "extra["+itoa(i)+"]", x)
	}
	for i, x := range a.EmailFallback {
		checkAttr(&ps, "email_fallback["+itoa(i)+"]", x)
	}
	return ps
}

func (g *GroupsConfig) validate(ad bool) idp.Problems {
	var ps idp.Problems
	if g.Nested != nil && *g.Nested {
		switch {
		case g.UserAttribute != "":
			ps.Addf("nested", "needs groups that list members by DN; remove user_attribute or set nested: false")
		case !ad && g.BaseDN == "":
			ps.Addf("base_dn", "nested groups outside Active Directory are searched level by level: set base_dn to where the groups are")
		}
	}
	if g.MaxDepth < 1 || g.MaxDepth > maxNestingDepth {
		ps.Addf("max_depth", "must be between 1 and %d", maxNestingDepth)
	}
	for i, dn := range g.Required {
		checkDN(&ps, "required["+itoa(i)+"]", dn)
	}
	if g.BaseDN != "" {
		checkDN(&ps, "base_dn", g.BaseDN)
	}
	checkScope(&ps, "scope", g.Scope)
	if g.Filter != "" {
		if _, err := ldap.CompileFilter(wrapFilter(g.Filter)); err != nil {
			ps.Addf("filter", "not a valid LDAP filter (%v), e.g. (objectClass=groupOfNames)", err)
		}
	}
	checkAttr(&ps, "member_attribute", g.MemberAttribute)
	if g.UserAttribute != "" {
		checkAttr(&ps, "user_attribute", g.UserAttribute)
	}
	return ps
}

func checkDN(ps *idp.Problems, key, dn string) {
	if _, err := ldap.ParseDN(dn); err != nil || strings.TrimSpace(dn) == "" {
		ps.Addf(key, "not a valid DN (%q); write e.g. ou=people,dc=corp,dc=example", dn)
	}
}

func checkScope(ps *idp.Problems, key, scope string) {
	if _, ok := scopes[scope]; !ok {
		ps.Addf(key, "must be sub or one, not %q", scope)
	}
}

func checkAttr(ps *idp.Problems, key, name string) {
	switch {
	case name == "":
		ps.Addf(key, "must not be empty")
	case !attrName.MatchString(name):
		ps.Addf(key, "%q is not an attribute name", name)
	case isPasswordAttribute(name):
		ps.Addf(key, "%s holds a password and is never read; remove it", name)
	}
}

var scopes = map[string]int{"sub": ldap.ScopeWholeSubtree, "one": ldap.ScopeSingleLevel}

// loadCAFile reads a PEM bundle into a pool.
func loadCAFile(path string) (*x509.CertPool, error) {
	pemData, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, errNoCertificate
	}
	return pool, nil
}

func itoa(i int) string { return strconv.Itoa(i) }

// useStartTLS is the effective start_tls: explicit, else on unless plain
// connections were allowed.
func (c *Config) useStartTLS() bool {
	if c.StartTLS != nil {
		return *c.StartTLS
	}
	return !c.InsecureNoTLS
}
