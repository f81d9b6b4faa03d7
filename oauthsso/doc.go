// Package oauthsso is the OAuth 2.0 SSO mode of the identity provider: the
// "customer authentication system" side of the NCP WORKPLACE and NAVER WORKS
// OAuth contract (authorization code flow, client secret in the form body,
// userinfo answering one login ID).
//
// Endpoints (registered by Provider.Register):
//
//	GET  /oauth/authorize    Web Login URL and Application Login URL
//	POST /oauth/token        Access Token Return API
//	POST /oauth/userinfo     User info return API
//	GET  /oauth/logout       Logout URL (SP-initiated; ?redirect_uri= optional)
//	GET  /oauth/logout/sp    IdP-initiated logout (?client_id=): ends the session
//	                         and sends the browser to that SP's logout URL
//	GET  /oauth/logged-out   the "signed out" page
//
// The contract this package keeps:
//
//   - A login request is validated exactly once, at /oauth/authorize, and
//     parked as an idp.Flow. An unknown client_id or a redirect_uri outside the
//     client's allowlist is never redirected to: the browser gets an error page
//     (HTTP 400). Every other refusal after a valid client and redirect_uri is
//     an RFC 6749 §4.1.2.1 error redirect.
//   - redirect_uri is matched strictly (scheme, exact host, exact port, path
//     prefix on a segment boundary) and refused when it contains anything a
//     browser or proxy could read differently from us (userinfo, fragment,
//     backslash, dot segments raw or percent-encoded, encoded slashes, control
//     characters). It is then used byte for byte: code and state are appended
//     to its existing query, which is never re-encoded (NAVER WORKS carries its
//     state inside it).
//   - Codes are 256-bit random, single use (taken atomically from the store),
//     short-lived (code_lifetime, default 60s, at most 10m) and bound to the
//     client and redirect_uri. Redeeming a code twice fails and revokes the
//     token handed out by the first redemption, even when the two
//     redemptions race: the token is stored with the code (issue), before
//     anyone can present the code, and deleted by the replay
//     (revokeToken).
//   - Clients authenticate with client_id and client_secret in the form body
//     (or, alone, HTTP Basic); two methods at once, credentials in the query
//     string, duplicated parameters, other content types and oversized bodies
//     are refused before any store access.
//   - A store outage (an error wrapping idp.ErrStoreUnavailable) is HTTP 503
//     temporarily_unavailable with Retry-After on the token and userinfo APIs;
//     after a valid login request it reaches the SP's redirect_uri as
//     error=temporarily_unavailable (RFC 6749 §4.1.2.1). Any other store
//     failure is 500 server_error. No answer carries the error's text.
//
// Why access tokens are opaque random strings kept in the store, not JWTs
// (decided by the project lead): the only party that ever reads a token is
// this IdP's own userinfo endpoint, so a self-contained token buys nothing.
// A stored token can be revoked exactly — a replayed code or a logout kills it
// at once, while a JWT would stay valid until it expires — and checking it is
// one store read with no signature to verify and no signing key to rotate.
// The token record carries the identity snapshot taken at login, so userinfo
// never waits on the directory. Userinfo additionally requires the SSO session
// the token came from to be alive, which is how logout revokes tokens without
// a per-session index.
//
// Failures are throttled per client and per client and IP address (wrong
// secrets, refused codes and tokens) by a ClientLimiter: StoreLimiter, on
// the state store's idp.Counter, unless WithClientLimiter installs another.
// A throttled client gets HTTP 429 before its secret is even compared.
//
// The package depends on idp and idp/server only. The SP simulator in
// oauthsso/spsim plays WORKPLACE or NAVER WORKS against these endpoints for
// the demo page, the end-to-end tests and "idp selftest".
package oauthsso
