package ldapdemo

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// tri is the result of a filter item: RFC 4511 4.5.1.7 filters are
// three-valued, and only True selects an entry. Undefined must survive a NOT,
// which is why a plain bool is not enough: (!(userPassword=x)) is Undefined,
// not True.
type tri int8

const (
	undefined tri = iota
	isFalse
	isTrue
)

// maxFilterDepth bounds the nesting of and/or/not so a hostile filter cannot
// exhaust the stack.
const maxFilterDepth = 50

// hiddenAttrs can be neither returned nor used in a filter.
var hiddenAttrs = map[string]bool{attrUserPassword: true}

// dnAttrs hold DNs and match with distinguishedNameMatch.
var dnAttrs = map[string]bool{
	"member": true, "uniquemember": true, "owner": true, "manager": true,
	"seealso": true, "memberof": true, "secretary": true, "roleoccupant": true,
}

// filter is a compiled search filter.
type filter interface {
	eval(e *entry) tri
}

type (
	andFilter     []filter
	orFilter      []filter
	notFilter     struct{ f filter }
	presentFilter struct{ attr string }
	// compareFilter is equality, approxMatch (treated as equality),
	// greaterOrEqual or lessOrEqual.
	compareFilter struct {
		op    int // ldap.FilterEqualityMatch, ...
		attr  string
		value string
	}
	substringsFilter struct {
		attr    string
		initial string
		any     []string
		final   string
	}
	// undefinedFilter is an item the server cannot evaluate (extensible
	// match): it never selects an entry, even under a NOT.
	undefinedFilter struct{}
)

// errFilter reports a filter that is not valid RFC 4515.
var errFilter = errors.New("ldapdemo: invalid filter")

// compileFilter parses an RFC 4515 filter string.
func compileFilter(s string) (filter, error) {
	p, err := ldap.CompileFilter(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errFilter, err)
	}
	return fromPacket(p, 0)
}

// fromPacket converts a BER filter, checking its shape so that evaluation
// needs no further checks.
func fromPacket(p *ber.Packet, depth int) (filter, error) {
	if depth > maxFilterDepth {
		return nil, fmt.Errorf("%w: nested more than %d levels", errFilter, maxFilterDepth)
	}
	if p.ClassType != ber.ClassContext {
		return nil, fmt.Errorf("%w: unexpected class %d", errFilter, p.ClassType)
	}
	switch p.Tag {
	case ldap.FilterAnd, ldap.FilterOr:
		fs := make([]filter, 0, len(p.Children))
		for _, c := range p.Children {
			f, err := fromPacket(c, depth+1)
			if err != nil {
				return nil, err
			}
			fs = append(fs, f)
		}
		if p.Tag == ldap.FilterAnd {
			return andFilter(fs), nil
		}
		return orFilter(fs), nil
	case ldap.FilterNot:
		if len(p.Children) != 1 {
			return nil, fmt.Errorf("%w: not needs one item", errFilter)
		}
		f, err := fromPacket(p.Children[0], depth+1)
		if err != nil {
			return nil, err
		}
		return notFilter{f}, nil
	case ldap.FilterPresent:
		return presentFilter{attr: strings.ToLower(p.Data.String())}, nil
	case ldap.FilterEqualityMatch, ldap.FilterApproxMatch, ldap.FilterGreaterOrEqual, ldap.FilterLessOrEqual:
		if len(p.Children) != 2 {
			return nil, fmt.Errorf("%w: comparison needs attribute and value", errFilter)
		}
		op := int(p.Tag)
		if op == ldap.FilterApproxMatch {
			op = ldap.FilterEqualityMatch
		}
		return compareFilter{op: op, attr: strings.ToLower(p.Children[0].Data.String()), value: p.Children[1].Data.String()}, nil
	case ldap.FilterSubstrings:
		return substringsFromPacket(p)
	case ldap.FilterExtensibleMatch:
		return undefinedFilter{}, nil
	default:
		return nil, fmt.Errorf("%w: unknown filter choice %d", errFilter, p.Tag)
	}
}

func substringsFromPacket(p *ber.Packet) (filter, error) {
	if len(p.Children) != 2 || len(p.Children[1].Children) == 0 {
		return nil, fmt.Errorf("%w: substrings needs attribute and parts", errFilter)
	}
	f := substringsFilter{attr: strings.ToLower(p.Children[0].Data.String())}
	parts := p.Children[1].Children
	for i, part := range parts {
		v := foldSubstring(part.Data.String())
		switch {
		case part.Tag == ldap.FilterSubstringsInitial && i == 0:
			f.initial = v
		case part.Tag == ldap.FilterSubstringsFinal && i == len(parts)-1:
			f.final = v
		case part.Tag == ldap.FilterSubstringsAny:
			f.any = append(f.any, v)
		default:
			return nil, fmt.Errorf("%w: substrings part %d out of order", errFilter, i)
		}
	}
	return f, nil
}

func (f andFilter) eval(e *entry) tri {
	r := isTrue
	for _, c := range f {
		switch c.eval(e) {
		case isFalse:
			return isFalse
		case undefined:
			r = undefined
		}
	}
	return r
}

func (f orFilter) eval(e *entry) tri {
	r := isFalse
	for _, c := range f {
		switch c.eval(e) {
		case isTrue:
			return isTrue
		case undefined:
			r = undefined
		}
	}
	return r
}

func (f notFilter) eval(e *entry) tri {
	switch f.f.eval(e) {
	case isTrue:
		return isFalse
	case isFalse:
		return isTrue
	}
	return undefined
}

func (undefinedFilter) eval(*entry) tri { return undefined }

func (f presentFilter) eval(e *entry) tri {
	if hiddenAttrs[f.attr] {
		return undefined
	}
	_, ok := e.values(f.attr)
	return asTri(ok)
}

func (f compareFilter) eval(e *entry) tri {
	if hiddenAttrs[f.attr] {
		return undefined
	}
	if dnAttrs[f.attr] {
		return f.evalDN(e)
	}
	vs, _ := e.values(f.attr)
	want := foldValue(f.value)
	for _, v := range vs {
		var ok bool
		switch f.op {
		case ldap.FilterEqualityMatch:
			ok = foldValue(v) == want
		case ldap.FilterGreaterOrEqual:
			ok = compareOrdered(foldValue(v), want) >= 0
		case ldap.FilterLessOrEqual:
			ok = compareOrdered(foldValue(v), want) <= 0
		}
		if ok {
			return isTrue
		}
	}
	return isFalse
}

// evalDN matches DN-valued attributes; like slapd, they have no ordering.
func (f compareFilter) evalDN(e *entry) tri {
	if f.op != ldap.FilterEqualityMatch {
		return undefined
	}
	want, err := normaliseDN(f.value)
	if err != nil {
		return undefined // an invalid assertion value is Undefined
	}
	key := strings.Join(want, ",")
	vs, _ := e.values(f.attr)
	for _, v := range vs {
		if sameDN(v, key) {
			return isTrue
		}
	}
	return isFalse
}

func (f substringsFilter) eval(e *entry) tri {
	if hiddenAttrs[f.attr] || dnAttrs[f.attr] {
		return undefined
	}
	vs, _ := e.values(f.attr)
	for _, v := range vs {
		if f.matches(foldValue(v)) {
			return isTrue
		}
	}
	return isFalse
}

// matches consumes the value left to right so that parts never overlap:
// (cn=ab*ba) does not match "aba".
func (f substringsFilter) matches(v string) bool {
	rest, ok := strings.CutPrefix(v, f.initial)
	if !ok {
		return false
	}
	for _, part := range f.any {
		i := strings.Index(rest, part)
		if i < 0 {
			return false
		}
		rest = rest[i+len(part):]
	}
	return strings.HasSuffix(rest, f.final)
}

// compareOrdered orders integers numerically and other values as strings.
func compareOrdered(a, b string) int {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	if errA == nil && errB == nil {
		return cmp.Compare(x, y)
	}
	return strings.Compare(a, b)
}

func asTri(b bool) tri {
	if b {
		return isTrue
	}
	return isFalse
}

// foldValue prepares a value for caseIgnoreMatch (RFC 4518, simplified):
// lower case, runs of white space collapsed, leading and trailing space
// dropped.
func foldValue(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

// foldSubstring folds a substring part like foldValue but keeps a single
// leading or trailing space, which is significant inside a value.
func foldSubstring(s string) string {
	lower := strings.ToLower(s)
	inner := strings.Join(strings.Fields(lower), " ")
	if inner == "" {
		if lower != "" {
			return " "
		}
		return ""
	}
	if strings.TrimLeftFunc(lower, unicode.IsSpace) != lower {
		inner = " " + inner
	}
	if strings.TrimRightFunc(lower, unicode.IsSpace) != lower {
		inner += " "
	}
	return inner
}
