// Package templates holds the embedded HTML pages and the Korean/English
// message catalog, and renders pages inside one common layout.
//
// A page is <name>.html defining "title" and "content". While rendering, a
// page sees a Page value: .T is the message map for the chosen language,
// .Lang is "ko" or "en", .Nonce is the CSP nonce for inline script and style,
// .Brand is the company branding, and .Data is the handler's own data.
//
// Messages live in messages/*.json, one file per owner (core, oauth, saml),
// each of the form {"key": {"ko": "...", "en": "..."}}. Every key must have
// both languages and no key may be defined twice; Load checks both so a
// missing translation fails at start-up (and in tests), not in front of an
// employee.
//
// Operators can replace any page or message file without rebuilding: New
// takes an optional override directory whose files shadow the embedded ones.
package templates
