// Package idp is the core of the identity provider: the types every other
// package speaks (Identity, Flow, Session, Code), the small interfaces they
// plug into (Authenticator and the narrow store interfaces), and the errors
// that cross package boundaries.
//
// It imports nothing heavy (no echo, ldap, bbolt or saml) so that protocol
// packages (saml, oauthsso), directory connectors (ldapauth) and store
// backends (idp/store/...) depend on it and never on each other.
//
// A login travels one way: a protocol endpoint validates the SP's request
// once and stores it as a Flow; the login page authenticates the user through
// an Authenticator and creates a Session; the Flow is then taken from the
// store exactly once and handed back to its protocol, which writes the answer.
package idp
