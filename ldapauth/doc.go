// Package ldapauth authenticates users against an LDAP directory
// (OpenLDAP, 389-DS, Active Directory's LDAP interface) and implements
// idp.Authenticator and idp.Checker.
//
// A login is "search then bind": a pooled connection bound as the service
// account (Config.BindDN) searches Config.User.BaseDN for exactly one entry
// matching the typed username; a separate, short-lived connection then binds
// as that entry's DN with the typed password. No DN is ever built from user
// input, and the username is escaped exactly once, where the filter is built
// (userFilter). Pooled connections are never rebound as a user.
//
// The three-way contract of idp.Authenticator holds:
//
//   - (id, true, nil): the password was verified and, when groups.required
//     is set, the user is a direct member of one of those groups.
//   - (_, false, nil): empty password (refused before any I/O), unknown
//     user, several matching entries (also logged as a warning), or wrong
//     password. The caller cannot tell which.
//   - (_, false, err): a *idp.AccountError with StateNotPermitted when the
//     password was right but no required group lists the user; any other
//     error wraps idp.ErrDirectoryUnavailable (no server answered, service
//     bind refused, TLS verification failed, timeouts).
//
// Connections: Config.URLs are tried in order; a server that fails (refused,
// hung past DialTimeout/RequestTimeout, bad certificate) is tried after the
// others for the next 30 seconds. ldaps:// and StartTLS verify the server
// certificate against CAFile (system roots when empty); plain LDAP needs
// InsecureNoTLS. Every operation is bounded by RequestTimeout and by the
// caller's context. A pooled connection that turns out broken is dropped and
// the operation retried once on a fresh one. Referrals are never followed.
//
// Only the attributes named in Config.Attributes (and groups.user_attribute)
// are requested, so password attributes never reach an Identity. Failed
// logins are logged at Info (event "login_failed" with a reason), outages at
// Error; passwords are never logged.
package ldapauth
