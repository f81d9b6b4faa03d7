package saml

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"sort"
	"strings"

	crewjam "github.com/crewjam/saml"
)

// spMetadata is what we take from a generic SP's metadata XML.
type spMetadata struct {
	entityID string
	// acs are the HTTP-POST AssertionConsumerService locations by index;
	// defaultACS is the one marked isDefault, else the lowest index.
	acs        map[int]string
	acsList    []string
	defaultACS string
	// requestsSigned is AuthnRequestsSigned="true": every request must carry
	// a signature by one of signingCerts.
	requestsSigned bool
	signingCerts   []*x509.Certificate
	// sloResponse is where the HTTP-Redirect SingleLogoutService takes
	// LogoutResponses (its ResponseLocation, else its Location); "" when
	// the metadata has none.
	sloResponse string
}

func parseSPMetadata(raw []byte) (*spMetadata, error) {
	if len(raw) > maxMetadataBytes {
		return nil, fmt.Errorf("metadata larger than %d bytes", maxMetadataBytes)
	}
	if err := checkXML(raw); err != nil {
		return nil, fmt.Errorf("metadata: %v", err)
	}
	var ed crewjam.EntityDescriptor
	if err := xml.Unmarshal(raw, &ed); err != nil {
		return nil, fmt.Errorf("metadata is not an EntityDescriptor: %v", err)
	}
	if !isAbsoluteURIOrName(ed.EntityID) {
		return nil, errors.New("metadata has no usable entityID")
	}
	if len(ed.SPSSODescriptors) != 1 {
		return nil, fmt.Errorf("metadata must hold exactly one SPSSODescriptor, has %d", len(ed.SPSSODescriptors))
	}
	d := ed.SPSSODescriptors[0]
	md := &spMetadata{entityID: ed.EntityID, acs: map[int]string{}}
	md.requestsSigned = d.AuthnRequestsSigned != nil && *d.AuthnRequestsSigned
	lowest := -1
	for _, ep := range d.AssertionConsumerServices {
		if ep.Binding != crewjam.HTTPPostBinding {
			continue
		}
		if err := checkURLSyntax(ep.Location); err != nil {
			return nil, fmt.Errorf("AssertionConsumerService %q: %v (only plain https URLs are accepted)", ep.Location, err)
		}
		md.acs[ep.Index] = ep.Location
		md.acsList = append(md.acsList, ep.Location)
		if ep.IsDefault != nil && *ep.IsDefault && md.defaultACS == "" {
			md.defaultACS = ep.Location
		}
		if lowest == -1 || ep.Index < lowest {
			lowest = ep.Index
		}
	}
	if len(md.acsList) == 0 {
		return nil, errors.New("metadata has no HTTP-POST AssertionConsumerService")
	}
	if md.defaultACS == "" {
		md.defaultACS = md.acs[lowest]
	}
	sort.Strings(md.acsList)
	for _, ep := range d.SingleLogoutServices {
		if ep.Binding != crewjam.HTTPRedirectBinding {
			continue
		}
		loc := ep.Location
		if ep.ResponseLocation != "" {
			loc = ep.ResponseLocation
		}
		if err := checkURLSyntax(loc); err != nil {
			return nil, fmt.Errorf("SingleLogoutService %q: %v (only plain https URLs are accepted)", loc, err)
		}
		md.sloResponse = loc
		break
	}
	for _, kd := range d.KeyDescriptors {
		if kd.Use != "" && kd.Use != "signing" {
			continue
		}
		for _, c := range kd.KeyInfo.X509Data.X509Certificates {
			der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(c.Data), ""))
			if err != nil {
				return nil, fmt.Errorf("metadata signing certificate is not Base64: %v", err)
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, fmt.Errorf("metadata signing certificate: %v", err)
			}
			md.signingCerts = append(md.signingCerts, cert)
		}
	}
	if md.requestsSigned && len(md.signingCerts) == 0 {
		return nil, errors.New("metadata says AuthnRequestsSigned but holds no signing certificate")
	}
	return md, nil
}
