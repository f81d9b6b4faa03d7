package oauthsso

import (
	"net/url"
	"strings"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/server"
)

var _ server.FormActionOriginer = (*Provider)(nil)

// FormActionOrigin implements server.FormActionOriginer: the origin of the
// Flow's redirect_uri, which was checked against the client's allowlist when
// the login request arrived. The login page's CSP must allow it, because the
// code redirect answers the login form's POST.
func (p *Provider) FormActionOrigin(f idp.Flow) string {
	if f.Protocol != ProtocolName {
		return ""
	}
	pl, err := parsePayload(f.Payload)
	if err != nil {
		return ""
	}
	u, err := url.Parse(pl.RedirectURI)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return ""
	}
	// The allowlist matched the host case-insensitively; the server's CSP
	// check takes origins in lower case (as browsers compare them).
	return u.Scheme + "://" + strings.ToLower(u.Host)
}
