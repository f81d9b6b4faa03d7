// Package ldapdemo is a small, read-only LDAP directory server that runs
// inside the IdP process, so that `idp demo` (and tests of other packages)
// can authenticate against a directory without installing slapd.
//
// The directory is loaded once from an LDIF file (testdata/demo.ldif for the
// demo) and never changes. The server speaks plain LDAP on a loopback port
// and behaves like a tightly configured OpenLDAP as far as the IdP's LDAP
// authenticator can tell:
//
//   - Simple bind with a DN and its userPassword (plaintext or {SSHA},
//     {SSHA256}, {SSHA512}, {SHA}, {SHA256}, {SHA512}). A wrong password or an
//     unknown DN is invalidCredentials (49); an empty password with a DN (an
//     "unauthenticated" bind, RFC 4513 5.1.2) is unwillingToPerform (53). An
//     anonymous bind (no DN, no password) succeeds, but searches need a
//     connection bound as an entry (insufficientAccessRights, 50, otherwise).
//     A failed bind leaves the connection anonymous.
//   - Search with base, one-level and subtree scope, DNs compared without
//     regard to case or insignificant spaces. Filters are RFC 4515 filters
//     evaluated with RFC 4511 three-valued logic: and, or, not, equality,
//     substrings, present, >=, <=, and ~= (as equality). Values match
//     case-insensitively (caseIgnoreMatch); DN-valued attributes such as
//     member match as DNs. Extensible matches are Undefined (never true).
//   - userPassword is never returned, whatever the request asks for, and a
//     filter that names it is Undefined, so a search cannot be used to guess
//     passwords. Operational attributes (entryUUID, memberOf, ...) are
//     returned only when asked for by name or with "+", as slapd does.
//   - Add, modify, delete and extended operations (including StartTLS) are
//     refused with an LDAP result, not by dropping the connection. gldap
//     cannot parse compare, modify DN, abandon or SASL bind requests; it
//     closes the connection instead. Request controls are ignored, even
//     critical ones, and the time limit is not enforced.
//
// The demo description the CLI prints (base DN, service account, demo
// accounts with their passwords) is read from the same LDIF, so the file is
// the one source of truth: the service account is the entry of object class
// simpleSecurityObject, and every inetOrgPerson with a plaintext userPassword
// is a demo account.
//
// Close stops the listener, cuts every client connection and waits for all
// goroutines. gldap, which parses the protocol, cannot close idle client
// connections itself, so the public listener is ours and each client
// connection is relayed to gldap on a second loopback port.
package ldapdemo
