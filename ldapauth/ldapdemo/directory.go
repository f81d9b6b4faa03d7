package ldapdemo

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"
	"github.com/go-ldap/ldif"
)

// Directory is an immutable set of entries loaded from an LDIF. It is safe
// for concurrent use.
type Directory struct {
	entries []*entry          // LDIF order; entries[0] is the suffix
	byKey   map[string]*entry // normalised DN -> entry
	rootDSE *entry

	serviceDN       string
	servicePassword string
	accounts        []Account
}

// Account is a demo login, described by the LDIF so the CLI can print it.
type Account struct {
	// Username is the entry's uid, what the user types on the login page.
	Username string
	// Password is the entry's plaintext userPassword.
	Password string
	// Name is the entry's cn (display name).
	Name string
	// Mail is the entry's mail.
	Mail string
	// Description is the entry's description: what the account demonstrates.
	Description string
	// DN is the entry's distinguished name as written in the LDIF.
	DN string
	// Groups lists the cn of every groupOfNames that has the account as member.
	Groups []string
}

// entry is one directory entry. Its password values are kept apart from its
// attributes so that no code path that returns or matches attributes can
// reach them.
type entry struct {
	dn        string   // as written in the LDIF
	rdns      []string // normalised RDNs, leaf first
	attrs     []attribute
	byName    map[string]int // lower-case attribute name -> index in attrs
	passwords []string       // userPassword values
}

// attribute is an attribute of an entry, named as the LDIF spells it.
type attribute struct {
	name   string
	values []string
}

// key is the normalised DN, equal for every spelling of the same DN.
func (e *entry) key() string { return strings.Join(e.rdns, ",") }

// values returns the values of the attribute with the lower-case name.
func (e *entry) values(lname string) ([]string, bool) {
	i, ok := e.byName[lname]
	if !ok {
		return nil, false
	}
	return e.attrs[i].values, true
}

// hasValue reports whether the attribute holds the value, ignoring case.
func (e *entry) hasValue(lname, value string) bool {
	vs, _ := e.values(lname)
	return slices.ContainsFunc(vs, func(v string) bool { return foldValue(v) == foldValue(value) })
}

// LoadFile reads a directory from an LDIF file.
func LoadFile(path string) (*Directory, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ldapdemo: open ldif: %w", err)
	}
	defer f.Close()
	return Load(f)
}

// Load reads a directory from LDIF content records (no changetype). The first
// entry is the suffix; every other entry's parent must come before it. DNs
// must be unique. userPassword values are plaintext or use a scheme listed in
// the package documentation.
func Load(r io.Reader) (*Directory, error) {
	var l ldif.LDIF
	if err := ldif.Unmarshal(r, &l); err != nil {
		return nil, fmt.Errorf("ldapdemo: parse ldif: %w", err)
	}
	d := &Directory{byKey: make(map[string]*entry)}
	for i, rec := range l.Entries {
		if rec.Entry == nil {
			return nil, fmt.Errorf("ldapdemo: ldif record %d: only content records are supported, not changetype", i+1)
		}
		e, err := newEntry(rec.Entry)
		if err != nil {
			return nil, err
		}
		if len(e.rdns) == 0 {
			return nil, fmt.Errorf("ldapdemo: ldif record %d: empty dn", i+1)
		}
		if _, dup := d.byKey[e.key()]; dup {
			return nil, fmt.Errorf("ldapdemo: entry %q appears twice", e.dn)
		}
		if len(d.entries) > 0 {
			if _, ok := d.byKey[strings.Join(e.rdns[1:], ",")]; !ok {
				return nil, fmt.Errorf("ldapdemo: entry %q: parent entry must come earlier in the ldif", e.dn)
			}
		}
		d.entries = append(d.entries, e)
		d.byKey[e.key()] = e
	}
	if len(d.entries) == 0 {
		return nil, fmt.Errorf("ldapdemo: ldif has no entries")
	}
	d.rootDSE = newRootDSE(d.entries[0].dn)
	if err := d.describe(); err != nil {
		return nil, err
	}
	return d, nil
}

// newEntry converts an LDIF entry, merging attribute names that differ only
// in case and moving userPassword aside.
func newEntry(le *ldap.Entry) (*entry, error) {
	rdns, err := normaliseDN(le.DN)
	if err != nil {
		return nil, fmt.Errorf("ldapdemo: entry %q: %w", le.DN, err)
	}
	e := &entry{dn: le.DN, rdns: rdns, byName: make(map[string]int)}
	for _, a := range le.Attributes {
		lname := strings.ToLower(a.Name)
		if lname == attrUserPassword {
			for _, v := range a.Values {
				if err := checkPasswordValue(v); err != nil {
					return nil, fmt.Errorf("ldapdemo: entry %q: %w", le.DN, err)
				}
			}
			e.passwords = append(e.passwords, a.Values...)
			continue
		}
		if i, ok := e.byName[lname]; ok {
			e.attrs[i].values = append(e.attrs[i].values, a.Values...)
			continue
		}
		e.byName[lname] = len(e.attrs)
		e.attrs = append(e.attrs, attribute{name: a.Name, values: slices.Clone(a.Values)})
	}
	return e, nil
}

// newRootDSE builds the entry a base search of the empty DN returns.
func newRootDSE(suffix string) *entry {
	e := &entry{byName: make(map[string]int)}
	for _, a := range []attribute{
		{name: "objectClass", values: []string{"top"}},
		{name: "namingContexts", values: []string{suffix}},
		{name: "supportedLDAPVersion", values: []string{"3"}},
	} {
		e.byName[strings.ToLower(a.name)] = len(e.attrs)
		e.attrs = append(e.attrs, a)
	}
	return e
}

// describe finds the service account and the demo accounts.
func (d *Directory) describe() error {
	for _, e := range d.entries {
		switch {
		case e.hasValue("objectclass", "simpleSecurityObject"):
			if d.serviceDN != "" {
				return fmt.Errorf("ldapdemo: entries %q and %q are both simpleSecurityObject; keep one service account", d.serviceDN, e.dn)
			}
			pw, ok := firstPlaintext(e.passwords)
			if !ok {
				return fmt.Errorf("ldapdemo: service account %q needs a plaintext userPassword", e.dn)
			}
			d.serviceDN, d.servicePassword = e.dn, pw
		case e.hasValue("objectclass", "inetOrgPerson"):
			pw, ok := firstPlaintext(e.passwords)
			uid := first(e, "uid")
			if !ok || uid == "" {
				continue // not a login the CLI can print
			}
			d.accounts = append(d.accounts, Account{
				Username:    uid,
				Password:    pw,
				Name:        first(e, "cn"),
				Mail:        first(e, "mail"),
				Description: first(e, "description"),
				DN:          e.dn,
				Groups:      d.groupsOf(e),
			})
		}
	}
	return nil
}

// groupsOf returns the cn of every group listing the entry as member.
func (d *Directory) groupsOf(member *entry) []string {
	var groups []string
	for _, g := range d.entries {
		if !g.hasValue("objectclass", "groupOfNames") {
			continue
		}
		vs, _ := g.values("member")
		if slices.ContainsFunc(vs, func(v string) bool { return sameDN(v, member.key()) }) {
			groups = append(groups, first(g, "cn"))
		}
	}
	return groups
}

// BaseDN returns the suffix of the directory, the DN of its first entry.
func (d *Directory) BaseDN() string { return d.entries[0].dn }

// ServiceAccount returns the DN and password of the simpleSecurityObject
// entry the IdP binds as to search, or empty strings if the LDIF has none.
func (d *Directory) ServiceAccount() (dn, password string) {
	return d.serviceDN, d.servicePassword
}

// Accounts returns the demo accounts in LDIF order.
func (d *Directory) Accounts() []Account {
	out := make([]Account, len(d.accounts))
	for i, a := range d.accounts {
		a.Groups = slices.Clone(a.Groups)
		out[i] = a
	}
	return out
}

// lookup returns the entry with the DN, in any spelling.
func (d *Directory) lookup(dn string) (*entry, bool) {
	rdns, err := normaliseDN(dn)
	if err != nil {
		return nil, false
	}
	e, ok := d.byKey[strings.Join(rdns, ",")]
	return e, ok
}

// first returns the first value of an attribute, or "".
func first(e *entry, lname string) string {
	if vs, _ := e.values(lname); len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// normaliseDN parses a DN and returns its RDNs, leaf first, in a form that is
// equal for equal DNs: attribute types and values folded, multi-valued RDNs
// sorted, special characters escaped one canonical way.
func normaliseDN(dn string) ([]string, error) {
	parsed, err := ldap.ParseDN(dn)
	if err != nil {
		return nil, fmt.Errorf("invalid dn: %w", err)
	}
	rdns := make([]string, len(parsed.RDNs))
	for i, rdn := range parsed.RDNs {
		avas := make([]string, len(rdn.Attributes))
		for j, ava := range rdn.Attributes {
			n := ldap.AttributeTypeAndValue{Type: strings.ToLower(ava.Type), Value: foldValue(ava.Value)}
			avas[j] = n.String()
		}
		slices.Sort(avas)
		rdns[i] = strings.Join(avas, "+")
	}
	return rdns, nil
}

// sameDN reports whether dn names the entry with the normalised key.
func sameDN(dn, key string) bool {
	rdns, err := normaliseDN(dn)
	return err == nil && strings.Join(rdns, ",") == key
}
