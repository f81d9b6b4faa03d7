// Package spsim plays an OAuth SSO service provider — NCP WORKPLACE or NAVER
// WORKS — against this IdP, the way the real SP and a browser would: login
// URL, login form, code redirect, token call, userinfo call. The demo page's
// "try it" button, the end-to-end tests and `idp selftest` use it.
//
// It drives the browser side with the caller's http.Client (its cookie jar
// carries the IdP session, so a second Run shows single sign-on), never
// fetches the callback URL (the redirect to it is captured), and records every
// exchange with its timing. Recorded steps never contain the password or the
// client secret, and codes and tokens in them are shortened.
//
// It depends on the standard library and golang.org/x/net/html only; it does
// not import the IdP's packages, so anything that can reach the IdP over
// HTTP can use it.
package spsim
