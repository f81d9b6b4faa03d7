package saml

import (
	"encoding/xml"
	"net/http"
	"sort"
	"time"

	crewjam "github.com/crewjam/saml"
	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/certs"
	"github.com/ncp-sso/idp/idp/server"
)

// metadataValidity is how long published metadata says it is valid.
const metadataValidity = 7 * 24 * time.Hour

// Metadata returns the IdP EntityDescriptor: both certificates during a
// rollover, the SSO endpoint for both bindings, and the NameID formats.
func (p *Provider) Metadata(now time.Time) *crewjam.EntityDescriptor {
	var keys []crewjam.KeyDescriptor
	for _, kp := range []*certs.KeyPair{p.current, p.next} {
		if kp == nil {
			continue
		}
		keys = append(keys, crewjam.KeyDescriptor{
			Use: "signing",
			KeyInfo: crewjam.KeyInfo{X509Data: crewjam.X509Data{
				X509Certificates: []crewjam.X509Certificate{{Data: encodeCert(kp)}},
			}},
		})
	}
	formats := map[string]bool{}
	for _, sp := range p.reg.all {
		formats[sp.nameIDFormat] = true
	}
	var nameIDFormats []crewjam.NameIDFormat
	for f := range formats {
		nameIDFormats = append(nameIDFormats, crewjam.NameIDFormat(f))
	}
	sort.Slice(nameIDFormats, func(i, j int) bool { return nameIDFormats[i] < nameIDFormats[j] })
	no := false
	return &crewjam.EntityDescriptor{
		EntityID:      p.EntityID(),
		ValidUntil:    now.UTC().Add(metadataValidity),
		CacheDuration: 24 * time.Hour,
		IDPSSODescriptors: []crewjam.IDPSSODescriptor{{
			SSODescriptor: crewjam.SSODescriptor{
				RoleDescriptor: crewjam.RoleDescriptor{
					ProtocolSupportEnumeration: "urn:oasis:names:tc:SAML:2.0:protocol",
					KeyDescriptors:             keys,
				},
				NameIDFormats: nameIDFormats,
			},
			WantAuthnRequestsSigned: &no,
			SingleSignOnServices: []crewjam.Endpoint{
				{Binding: crewjam.HTTPRedirectBinding, Location: p.ssoURL()},
				{Binding: crewjam.HTTPPostBinding, Location: p.ssoURL()},
			},
		}},
	}
}

func encodeCert(kp *certs.KeyPair) string {
	return base64Std(kp.Cert.Raw)
}

func (p *Provider) handleMetadata(c echo.Context) error {
	out, err := xml.MarshalIndent(p.Metadata(p.host.Now()), "", "  ")
	if err != nil {
		p.host.Logger().Error("saml_metadata_failed", "request_id", server.RequestID(c), "err", err)
		return p.host.ErrorPage(c, http.StatusInternalServerError, "saml_internal_error")
	}
	return c.Blob(http.StatusOK, "application/samlmetadata+xml", append([]byte(xml.Header), out...))
}

// handleCertificate serves the signing certificate as the .pem the admin
// uploads to the SP console.
func (p *Provider) handleCertificate(c echo.Context) error {
	return servePEM(c, p.signing, "saml-signing.pem")
}

// handleNextCertificate serves the rollover certificate, when there is one,
// so it can be uploaded before signing switches to it.
func (p *Provider) handleNextCertificate(c echo.Context) error {
	if p.next == nil {
		return p.host.ErrorPage(c, http.StatusNotFound, "saml_no_next_certificate")
	}
	return servePEM(c, p.next, "saml-signing-next.pem")
}

func servePEM(c echo.Context, kp *certs.KeyPair, filename string) error {
	h := c.Response().Header()
	h.Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	h.Set("X-Certificate-SHA256", certs.Fingerprint(kp.Cert))
	return c.Blob(http.StatusOK, "application/x-pem-file", kp.CertPEM())
}

// handleLogout ends the IdP session and goes back to the SP only when
// redirect_uri is on an SP's logout redirect domains (exact host).
func (p *Provider) handleLogout(c echo.Context) error {
	h := p.host
	_, hadSession := h.EndSession(c)
	params, perr := queryParams(c.Request())
	if _, slo := params["SAMLRequest"]; slo && perr == nil {
		return p.handleSLO(c, params, hadSession)
	}
	target := ""
	if perr == nil {
		if ru, ok := params["redirect_uri"]; ok && p.logoutRedirectAllowed(ru.value) {
			target = ru.value
		}
	}
	h.Logger().Info("saml_logout", "request_id", server.RequestID(c), "had_session", hadSession, "redirect", target != "")
	if target != "" {
		return c.Redirect(http.StatusFound, target)
	}
	return h.Render(c, http.StatusOK, "logged_out", nil)
}

func (p *Provider) logoutRedirectAllowed(u string) bool {
	for _, sp := range p.reg.all {
		if sp.logoutURLAllowed(u) {
			return true
		}
	}
	return false
}
