// Package server is the IdP's HTTP server: the company login page, SSO
// sessions, security middleware, health endpoints, and the Host that SSO
// protocols (saml, oauthsso) plug into.
//
// Contract:
//   - A protocol validates its SP request once and calls Host.BeginFlow; the
//     Flow is parked in the store and the login form is the answer (to a
//     GET; a POST is redirected to /login?flow=ID, which shows the same form).
//   - POST /login checks CSRF, authenticates through the idp.Authenticator,
//     replaces any previous session with a fresh one (new ID: no fixation),
//     takes the Flow from the store exactly once and calls the protocol's
//     Resume (or Deny when the account may not sign in).
//   - A browser with a live session skips the form: BeginFlow resumes at once
//     unless the Flow demands ForceAuthn.
//   - Wrong password and unknown user show the same text; a directory outage
//     shows a distinct 503 page; no internal error text reaches a page.
//   - Every response carries security headers (CSP with a per-request nonce,
//     frame-ancestors 'none', no-store on pages, HSTS when the public URL is
//     https, Referrer-Policy) and a request ID that error pages show.
package server
