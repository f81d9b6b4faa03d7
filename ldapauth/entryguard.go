package ldapauth

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/ncp-sso/idp/idp"
)

// SetEntryThrottle makes every user bind (of a login, and of Diagnose)
// reserve an attempt for the entry the search found, under the entry's
// stable identity, before the bind is sent (default: none). A refused
// reservation means no bind: the login returns an error wrapping
// *idp.ThrottledError. This is what stops a guesser who mixes name forms
// of one account ("alice", "alice@other-suffix", "alice.kim@example.com"),
// which a throttle on the typed name counts apart, from reaching the
// directory's lockout threshold.
//
// It is a setter, not an Option, because the throttle is built after the
// Authenticator (it counts typed names with NormalizeUsername). Call it
// before the first Authenticate or Diagnose; it is not safe to call
// concurrently with them.
func (a *Authenticator) SetEntryThrottle(t idp.EntryThrottle) { a.entries = t }

// guidAttribute is read with the Active Directory preset for entryKey,
// whatever attributes.subject says.
const guidAttribute = "objectGUID"

// entryKey is the identity under which an entry's attempts are counted:
// its objectGUID when the entry has one (it survives renames and moves),
// otherwise its DN, parsed and folded so that the server's spelling of it
// does not matter.
func entryKey(e *ldap.Entry) string {
	if g := e.GetEqualFoldRawAttributeValue(guidAttribute); len(g) > 0 {
		return "guid:" + hex.EncodeToString(g)
	}
	if plainDN(e.DN) {
		// What ParseDN and String would give, lowercased, at a tenth of
		// the cost (FuzzPlainDN holds the two to the same key).
		return "dn:" + strings.ToLower(e.DN)
	}
	if dn, err := ldap.ParseDN(e.DN); err == nil {
		return "dn:" + strings.ToLower(dn.String())
	}
	return "dn:" + strings.ToLower(strings.TrimSpace(e.DN))
}

// plainDN reports whether dn is already in the form go-ldap's DN.String
// writes, so that parsing it would give it back unchanged: RDNs of one
// type=value each, the type a name (a letter, then letters, digits and
// hyphens), the value of ASCII letters, digits, and ' ', '-', '.', '_',
// '@', never starting or ending with a space. Every other DN (escapes,
// multi-valued RDNs, spaces around the separators, non-ASCII names) is
// left to ParseDN.
func plainDN(dn string) bool {
	for rdn := range strings.SplitSeq(dn, ",") {
		typ, val, ok := strings.Cut(rdn, "=")
		if !ok || typ == "" || val == "" || val[0] == ' ' || val[len(val)-1] == ' ' || !isLetter(typ[0]) {
			return false
		}
		for i := 1; i < len(typ); i++ {
			if c := typ[i]; !isLetter(c) && !isDigit(c) && c != '-' {
				return false
			}
		}
		for i := 0; i < len(val); i++ {
			switch c := val[i]; {
			case isLetter(c), isDigit(c), c == ' ', c == '-', c == '.', c == '_', c == '@':
			default:
				return false
			}
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

// beginBind reserves the bind for entry with the entry throttle. It
// returns the function that records the bind's outcome, or an error when
// the bind must not be made: wrapping *idp.ThrottledError when the entry
// has had too many failures, otherwise the throttle's store failure (the
// bind is not made either: failing open would reopen the lockout).
func (a *Authenticator) beginBind(ctx context.Context, entry *ldap.Entry) (func(idp.LoginOutcome), error) {
	if a.entries == nil {
		return func(idp.LoginOutcome) {}, nil
	}
	done, err := a.entries.BeginEntry(ctx, entryKey(entry))
	if err != nil {
		return nil, fmt.Errorf("ldapauth: entry throttle: %w", err)
	}
	return done, nil
}

// bindOutcome classifies a user bind for the entry throttle the way the
// directory counts it: only a refused password (no sub-code, or one that
// looks like a wrong password: 52e, 525, 775) is a failure. A state AD
// reveals only to the right password (expired, disabled, ...) and a bind
// that did not get an answer are not.
func bindOutcome(res bindResult, err error) idp.LoginOutcome {
	switch {
	case err != nil:
		return idp.LoginNotCounted
	case res.ok:
		return idp.LoginSucceeded
	}
	if info, known := subcodes[res.code]; known && info.state != "" {
		return idp.LoginNotCounted
	}
	return idp.LoginFailed
}

// isThrottled reports whether err refuses an attempt for too many
// failures, and for how long.
func isThrottled(err error) (*idp.ThrottledError, bool) {
	var te *idp.ThrottledError
	return te, errors.As(err, &te)
}
