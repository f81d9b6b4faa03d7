// Package throttle limits failed logins per account and per client IP, in
// the state store, so that guessing passwords through the IdP stops well
// before Active Directory locks the account.
//
// Throttle implements idp.LoginThrottle and idp.EntryThrottle on a
// store.Backend (bucket "throttle"). It has three scopes:
//
//   - account: the typed name, normalised (case, spaces, DOMAIN\ and known
//     UPN suffixes); checked by the server before the directory is asked.
//   - ip: the client address, over all accounts; checked with account.
//   - entry: the directory entry the name resolved to (objectGUID, else the
//     normalised DN); checked by ldapauth after its search found exactly
//     one entry and before it binds. Names the account scope cannot relate
//     ("alice", "alice@other-suffix", "alice.kim@example.com") all reach
//     the same entry, so wrong passwords sent to the directory for one
//     account stay within MaxFailuresPerAccount per window whichever names
//     are mixed.
//
// For each scope it keeps a window whose counters only its own attempts
// touch:
//
//   - Begin and BeginEntry reserve an attempt with the backend's atomic
//     Incr before the directory is contacted (BeginEntry: before the bind). Reservations minus the ones given back are the
//     failures plus the attempts in flight; when that would exceed the
//     scope's limit the attempt is refused with *idp.ThrottledError and
//     never reaches the directory. Parallel attempts cannot overtake the
//     limit together: each gets its own count from Incr.
//   - done(LoginFailed) keeps the reservation (it is a failure) and slides
//     the window: it ends Window after the last failure, the way AD's
//     "reset account lockout counter after" works, so slow guessing cannot
//     pile up failures in AD across our windows either.
//   - done(LoginSucceeded) and done(LoginNotCounted) give the reservation
//     back; a success also starts the account afresh. A directory outage
//     or an account state (expired password, disabled) never counts.
//
// With the defaults (3 failures per account per 15 minutes) at most three
// wrong passwords per directory entry reach AD per quarter hour of quiet,
// below AD's usual lockout thresholds (5 or 10). Choose max_failures_per_account
// below the domain's lockout threshold and window at least as long as its
// observation window. Keys are SHA-256 hashes: the store holds no user
// names, DNs, GUIDs or addresses.
package throttle
