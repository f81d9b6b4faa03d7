// Package ldapauth authenticates users against an LDAP directory
// (OpenLDAP, 389-DS, Active Directory's LDAP interface) and implements
// idp.Authenticator and idp.Checker.
//
// A login is "search then bind": a pooled connection bound as the service
// account (Config.BindDN) searches Config.User.BaseDN for exactly one entry
// matching the typed username; a connection from a second pool, used for
// nothing but user binds, then binds as that entry's DN with the typed
// password. No DN is ever built from user input, and the username is
// escaped exactly once, where the filter is built (userFilter). Search
// connections are never rebound as a user; each pool holds at most
// Config.PoolSize connections, so a login costs no new TCP or TLS
// connection once the pools are warm.
//
// The three-way contract of idp.Authenticator holds:
//
//   - (id, true, nil): the password was verified and, when groups.required
//     is set, the user is a member of one of those groups (directly, or
//     through nested groups with groups.nested).
//   - (_, false, nil): empty password (refused before any I/O), unknown
//     user, several matching entries (also logged as a warning), wrong
//     password, or an Active Directory account that is locked out (sub-code
//     775, or the computed LOCKOUT flag): AD answers 775 whatever the
//     password, so telling the user would reveal that the account exists.
//     The caller cannot tell which; the log says (event login_failed,
//     reason, ad_subcode).
//   - (_, false, err): a *idp.AccountError when the directory knows the
//     user but will not let them in: StateNotPermitted (no required group),
//     and from AD's bind sub-codes, which AD sends only for the right
//     password, StatePasswordExpired (532), StateMustChangePassword (773),
//     StateDisabled (533), StateAccountExpired (701), StateRestricted
//     (530, 531, 568); the same states from userAccountControl,
//     accountExpires and pwdLastSet after a verified password. An error
//     wrapping *idp.ThrottledError when the entry throttle
//     (SetEntryThrottle) refused the bind: the entry had too many wrong
//     passwords, under whatever names; no bind was sent. Any other error
//     wraps idp.ErrDirectoryUnavailable (no server answered, service bind
//     refused, TLS verification failed, timeouts) or is the entry
//     throttle's store failing (no bind is sent then either).
//
// With SetEntryThrottle, the one entry the search found is counted under
// its objectGUID (requested with the AD preset) or else its folded DN
// before the bind, and the bind's outcome recorded: a refused password
// (no sub-code, 52e, 525, 775) is a failure, a success starts afresh, and
// outages and account states AD reveals only to the right password do not
// count. Diagnose binds through the same guard.
//
// Config.Preset "active_directory" fills AD defaults (ADConfig): login as
// sAMAccountName, DOMAIN\user, UPN or mail; objectGUID subject rendered as
// a GUID string; e-mail falling back to userPrincipalName; nested groups
// through LDAP_MATCHING_RULE_IN_CHAIN. Elsewhere nested groups are searched
// level by level under groups.base_dn, at most groups.max_depth levels, a
// group seen before is not searched again (cycles end). Group searches are
// paged. NormalizeUsername gives the typed-name throttle one key for the
// forms it can relate without I/O (DOMAIN\user, upn_suffixes); the entry
// throttle (SetEntryThrottle) covers the others (e-mail, other UPN
// suffixes). Diagnose walks the login path step by step for
// `idp ldap test`.
//
// Connections: Config.URLs are tried in order; a server that fails (refused,
// hung past DialTimeout/RequestTimeout, bad certificate) is tried after the
// others for the next 30 seconds. ldaps:// and StartTLS verify the server
// certificate against CAFile (system roots when empty); plain LDAP needs
// InsecureNoTLS. Every operation is bounded by RequestTimeout and by the
// caller's context. A pooled connection that turns out broken is dropped and
// the operation retried once on a fresh one; one idle longer than
// Config.PoolMaxIdle (default 5m, below AD's 900 s idle cut-off) is closed,
// and one idle over 30 s is health-checked (a root DSE read) before reuse.
// Referrals are never followed.
//
// Only the attributes named in Config.Attributes (and groups.user_attribute)
// are requested, so password attributes never reach an Identity. Failed
// logins are logged at Info (event "login_failed" with a reason), outages at
// Error; passwords are never logged.
package ldapauth
