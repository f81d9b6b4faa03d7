package server

import (
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/idp"
)

// FormActionOriginer is implemented by a protocol whose Resume or Deny
// redirects the browser to another origin in answer to the login form's POST
// (the OAuth code redirect). Browsers apply the login page's CSP form-action
// to the redirects that follow a form submission too, so without that
// origin in form-action Chrome blocks the redirect and the employee is stuck
// on the login page.
type FormActionOriginer interface {
	// FormActionOrigin returns the origin ("https://host[:port]") that
	// Resume or Deny may redirect f's browser to, or "" for none. The value
	// goes into a response header: it must come from the validated request.
	FormActionOrigin(f idp.Flow) string
}

// allowFlowFormAction widens the login page's form-action to the origin the
// Flow's protocol will redirect to after the POST.
func (s *Server) allowFlowFormAction(c echo.Context, f idp.Flow) {
	p, ok := s.protocols[f.Protocol].(FormActionOriginer)
	if !ok {
		return
	}
	// Scheme and host are case-insensitive; the check takes lower case.
	if o := strings.ToLower(p.FormActionOrigin(f)); o != "" && cspSafeOrigin(o) {
		AllowFormAction(c, o)
	}
}

// cspSafeOrigin accepts scheme://host[:port] spelled with the characters a
// validated URL origin has, so that nothing can end the CSP directive.
func cspSafeOrigin(o string) bool {
	for i := 0; i < len(o); i++ {
		c := o[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':' || c == '/' || c == '[' || c == ']') {
			return false
		}
	}
	return len(o) > len("https://") && (o[:8] == "https://" || o[:7] == "http://")
}
