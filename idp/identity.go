package idp

import (
	"context"
	"errors"
	"fmt"
)

// Identity is what the directory says about an authenticated user. It is a
// snapshot: codes and sessions carry a copy so that token and userinfo calls
// never wait on the directory. It never holds a password attribute.
type Identity struct {
	// Subject is a stable, unique identifier (entryUUID, objectGUID, or the
	// configured attribute); it survives renames.
	Subject string `json:"sub"`
	// Username is the login name as the directory spells it.
	Username string `json:"username"`
	// Email is the login e-mail, the value WORKPLACE expects by default.
	Email string `json:"email,omitempty"`
	// DisplayName is shown on our pages ("Signed in as ...").
	DisplayName string `json:"name,omitempty"`
	// DN is the entry's distinguished name in the directory.
	DN string `json:"dn,omitempty"`
	// Groups lists the DNs of the groups that granted access (when a group
	// restriction is configured) or that were resolved for the user.
	Groups []string `json:"groups,omitempty"`
	// Attributes holds the extra directory attributes the configuration maps
	// (for userinfo values and SAML attributes), keyed by attribute name.
	Attributes map[string][]string `json:"attrs,omitempty"`
}

// Attribute returns the first value of a mapped directory attribute. The
// well-known names "mail", "email", "subject", "username", "displayName" and
// "dn" fall back to the Identity's own fields.
func (id Identity) Attribute(name string) string {
	if vs := id.Attributes[name]; len(vs) > 0 {
		return vs[0]
	}
	switch name {
	case "mail", "email":
		return id.Email
	case "subject", "sub":
		return id.Subject
	case "username", "uid":
		return id.Username
	case "displayName", "cn", "name":
		return id.DisplayName
	case "dn":
		return id.DN
	}
	return ""
}

// Authenticator checks a username and password against the directory.
//
//	(id, true, nil)   authenticated
//	(_, false, nil)   wrong password or unknown user: the caller cannot tell which
//	(_, false, err)   the user may not sign in (err is an *AccountError) or the
//	                  directory could not answer (any other error, typically
//	                  wrapping ErrDirectoryUnavailable); never shown as
//	                  "wrong password"
//
// An empty password is refused before any network I/O.
type Authenticator interface {
	Authenticate(ctx context.Context, username, password string) (Identity, bool, error)
}

// Checker is implemented by dependencies that can tell whether they are able
// to serve (used by /readyz).
type Checker interface {
	Check(ctx context.Context) error
}

// ErrDirectoryUnavailable is wrapped by every error that means the directory
// could not answer (all servers down, timeouts, service-account bind
// refused). The login page shows "try again later" with HTTP 503.
var ErrDirectoryUnavailable = errors.New("idp: directory unavailable")

// AccountState says why a user whose password may be right cannot sign in.
type AccountState string

// Account states. Lockout is deliberately absent: a locked account looks
// exactly like a wrong password to the user (AD answers "locked" even for a
// wrong password, so showing it would reveal that the account exists).
const (
	// StateNotPermitted: authenticated, but not in any allowed group.
	StateNotPermitted AccountState = "not_permitted"
	// StatePasswordExpired: the password was right but has expired.
	StatePasswordExpired AccountState = "password_expired"
	// StateMustChangePassword: the password was right but must be changed first.
	StateMustChangePassword AccountState = "must_change_password"
	// StateDisabled: the account is disabled.
	StateDisabled AccountState = "disabled"
	// StateAccountExpired: the account itself has expired.
	StateAccountExpired AccountState = "account_expired"
	// StateRestricted: logon hours or workstation restrictions forbid it now.
	StateRestricted AccountState = "restricted"
)

// AccountError is returned by an Authenticator when the directory knows the
// user but will not let them sign in. State is safe to turn into a message;
// Reason is detail for the admin's log only.
type AccountError struct {
	State    AccountState
	Username string
	// Identity is set when the password was verified (e.g. not permitted).
	Identity *Identity
	Reason   string
}

func (e *AccountError) Error() string {
	return fmt.Sprintf("idp: account %s: %s", e.State, e.Reason)
}

// IsAccountError reports whether err is (or wraps) an *AccountError and returns it.
func IsAccountError(err error) (*AccountError, bool) {
	var ae *AccountError
	if errors.As(err, &ae) {
		return ae, true
	}
	return nil, false
}
