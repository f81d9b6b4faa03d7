// Package saml is the SAML 2.0 identity provider mode: it validates
// AuthnRequests from registered service providers (NCP WORKPLACE, NAVER
// WORKS, or any SP described by metadata), parks them as idp.Flows, and
// answers with signed Responses through an auto-submitting HTML form.
//
// It uses crewjam/saml for its inbound XML types and metadata, and
// goxmldsig to verify signed AuthnRequests; crewjam's IdentityProvider /
// samlidp handlers are deliberately not used
// (they re-validate after the password, leave replay as a TODO and default
// to SHA-1). No crewjam package global is read or written on any request
// path.
//
// What must hold:
//   - An AuthnRequest is validated once, on arrival, before the login page:
//     size caps (query, body, and 256 KiB of inflated XML: a DEFLATE bomb
//     stops after that many bytes), no DTD or entity declarations,
//     duplicated parameters refused, Version 2.0, ID a valid xs:ID,
//     Issuer of a registered SP, ACS URL allowed for that SP, ProtocolBinding
//     HTTP-POST or absent, IssueInstant within clock_skew either way, a
//     signature where the SP's metadata says requests are signed, and an ID
//     never seen before (idp.ReplayGuard, recorded after every other check).
//   - An unknown SP or an ACS URL outside the allowlist gets an error page
//     (HTTP 400): nothing is ever posted or redirected there. Other
//     failures are answered to the trusted ACS as a signed SAML error
//     Response (Requester/RequestDenied, VersionMismatch, NoPassive, ...).
//   - Nothing time-bound is re-checked after the user typed the password;
//     Resume only checks that the parked request still fits the running
//     configuration (SP registered, ACS allowed).
//   - A Response holds exactly one Assertion, is signed (Assertion, then
//     Response; RSA-SHA256, SHA-256 digest, exclusive C14N; never SHA-1),
//     and carries InResponseTo, Destination, Recipient, Audience, the real
//     authentication time and a short validity window. RelayState is
//     echoed byte for byte.
//   - Responses are written directly (render.go): each signed element in
//     its exclusive canonical form, digested once, its SignedInfo written
//     canonically and signed once, then the output form. The output is
//     byte for byte what crewjam's structs, etree and goxmldsig produced
//     (kept in oracle_test.go; a differential test and fuzz target hold
//     the two together), except that a CR in text and a TAB, LF or CR in
//     an attribute value are written as character references, so that
//     signatures over such values verify (the old output did not).
//     Invalid UTF-8 and characters XML forbids are written as U+FFFD.
//   - The POST page widens the CSP form-action to the ACS origin only.
//   - Logs never contain SAML messages, session IDs or passwords.
//
// Endpoints (Register): GET/POST /saml/sso, GET /saml/metadata,
// GET /saml/certificate.pem, GET /saml/certificate-next.pem,
// GET /saml/logout.
package saml
