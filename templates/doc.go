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
// Operators can replace any page or message file without rebuilding: Load
// takes an optional override directory whose files shadow the embedded ones.
//
// Rendering is on every login's path, so Load prepares every page for each
// language and the server's brand (fold.go): .T.key, .Lang and the .Brand
// fields are replaced by their text, the page is escaped by html/template
// as usual, and every action left printing a constant is executed once and
// kept as text. A render then evaluates only the request's own data; a
// page html/template cannot escape safely fails Load. With another brand
// or a caller's own .T, the page runs unprepared, looking each message up.
// The output is byte for byte what executing the page with .T looked up
// would give (testdata/golden pins every page). Render writes into a
// *bytes.Buffer directly; GetBuffer and PutBuffer pool such buffers.
package templates
