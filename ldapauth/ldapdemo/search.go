package ldapdemo

import (
	"slices"
	"strings"

	"github.com/jimlambrt/gldap"
)

// operationalAttrs are returned only when requested by name or with "+".
var operationalAttrs = map[string]bool{
	"entryuuid": true, "entrydn": true, "entrycsn": true, "memberof": true,
	"createtimestamp": true, "modifytimestamp": true, "creatorsname": true,
	"modifiersname": true, "structuralobjectclass": true, "hassubordinates": true,
	"subschemasubentry": true, "pwdchangedtime": true, "namingcontexts": true,
	"supportedldapversion": true,
}

// resultError is an LDAP result code with a diagnostic message safe to
// send to any client.
type resultError struct {
	code      int
	message   string
	matchedDN string
}

func (e *resultError) Error() string { return "ldapdemo: " + e.message }

// query is a search request, decoupled from the wire.
type query struct {
	baseDN    string
	scope     gldap.Scope
	filter    string
	attrs     []string
	sizeLimit int64
	typesOnly bool
}

// result is one entry to send, with the attributes already selected.
type result struct {
	dn    string
	attrs []attribute
}

// search runs a query. Up to sizeLimit entries are returned together with a
// sizeLimitExceeded error when more entries matched.
func (d *Directory) search(q query) ([]result, *resultError) {
	f, err := compileFilter(q.filter)
	if err != nil {
		return nil, &resultError{code: gldap.ResultProtocolError, message: "invalid search filter"}
	}
	baseRDNs, err := normaliseDN(q.baseDN)
	if err != nil {
		return nil, &resultError{code: gldap.ResultInvalidDNSyntax, message: "invalid base DN"}
	}
	sel := newSelection(q.attrs)
	if len(baseRDNs) == 0 {
		return d.searchRootDSE(q, f, sel)
	}
	if _, ok := d.byKey[strings.Join(baseRDNs, ",")]; !ok {
		return nil, &resultError{code: gldap.ResultNoSuchObject, message: "no such object", matchedDN: d.matched(baseRDNs)}
	}
	var out []result
	for _, e := range d.entries {
		if !inScope(e.rdns, baseRDNs, q.scope) || f.eval(e) != isTrue {
			continue
		}
		if q.sizeLimit > 0 && int64(len(out)) == q.sizeLimit {
			return out, &resultError{code: gldap.ResultSizeLimitExceeded, message: "size limit exceeded"}
		}
		out = append(out, result{dn: e.dn, attrs: sel.pick(e, q.typesOnly)})
	}
	return out, nil
}

// searchRootDSE answers a search of the empty DN, which only a base-scope
// search can read.
func (d *Directory) searchRootDSE(q query, f filter, sel selection) ([]result, *resultError) {
	if q.scope != gldap.BaseObject {
		return nil, &resultError{code: gldap.ResultNoSuchObject, message: "no such object"}
	}
	if f.eval(d.rootDSE) != isTrue {
		return nil, nil
	}
	return []result{{dn: "", attrs: sel.pick(d.rootDSE, q.typesOnly)}}, nil
}

// matched returns the DN of the closest existing ancestor of a missing base,
// as RFC 4511 asks for the matchedDN of noSuchObject.
func (d *Directory) matched(rdns []string) string {
	for i := 1; i < len(rdns); i++ {
		if e, ok := d.byKey[strings.Join(rdns[i:], ",")]; ok {
			return e.dn
		}
	}
	return ""
}

// inScope reports whether the entry is within the scope of the base. Both
// are normalised RDN lists, leaf first.
func inScope(rdns, base []string, scope gldap.Scope) bool {
	extra := len(rdns) - len(base)
	if extra < 0 || !slices.Equal(rdns[extra:], base) {
		return false
	}
	switch scope {
	case gldap.BaseObject:
		return extra == 0
	case gldap.SingleLevel:
		return extra == 1
	case gldap.WholeSubtree:
		return true
	}
	return false
}

// selection is the attribute list of a search request.
type selection struct {
	allUser        bool
	allOperational bool
	// named maps a requested lower-case name to the client's spelling, which
	// the result uses: clients often look attributes up case-sensitively.
	named map[string]string
}

func newSelection(requested []string) selection {
	sel := selection{named: make(map[string]string), allUser: len(requested) == 0}
	for _, a := range requested {
		switch a {
		case "*":
			sel.allUser = true
		case "+":
			sel.allOperational = true
		case "1.1":
			// "no attributes"; alone it selects nothing, with others it is ignored
		default:
			sel.named[strings.ToLower(a)] = a
		}
	}
	return sel
}

// pick returns the selected attributes of an entry. userPassword is not an
// attribute of entry at all, and hiddenAttrs are skipped as a second guard.
func (sel selection) pick(e *entry, typesOnly bool) []attribute {
	var out []attribute
	for _, a := range e.attrs {
		lname := strings.ToLower(a.name)
		if hiddenAttrs[lname] {
			continue
		}
		name, requested := sel.named[lname]
		if !requested {
			if operationalAttrs[lname] && !sel.allOperational || !operationalAttrs[lname] && !sel.allUser {
				continue
			}
			name = a.name
		}
		values := slices.Clone(a.values)
		if typesOnly {
			values = nil
		}
		out = append(out, attribute{name: name, values: values})
	}
	return out
}
