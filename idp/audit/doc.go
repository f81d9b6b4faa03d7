// Package audit records sign-in events: each one is kept in the state
// store (an idp.AuditStore, for the admin page, with the store's retention)
// and written as one JSON object per line to a file or standard output for
// a SIEM.
//
// Contract:
//   - Audit never fails the sign-in it records: a store or write failure is
//     logged at Error and the event is dropped from that sink only.
//   - Events carry no password, session ID, code or token (idp.AuditEvent
//     has no field for them).
//   - A file is opened for appending, created 0600; Reopen (on SIGHUP)
//     reopens it so that logrotate can move the old one away.
package audit
