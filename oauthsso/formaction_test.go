package oauthsso

import (
	"encoding/json"
	"testing"

	"github.com/ncp-sso/idp/idp"
)

func TestFormActionOrigin(t *testing.T) {
	payload := func(ru string) []byte {
		b, _ := json.Marshal(flowPayload{ClientID: "c", RedirectURI: ru})
		return b
	}
	p := &Provider{}
	for _, tc := range []struct {
		name string
		flow idp.Flow
		want string
	}{
		{"workplace", idp.Flow{Protocol: ProtocolName, Payload: payload("https://acme.ncpworkplace.com/authn/sso/callback?x=1")}, "https://acme.ncpworkplace.com"},
		{"host in capitals", idp.Flow{Protocol: ProtocolName, Payload: payload("https://ACME.NcpWorkplace.com/cb")}, "https://acme.ncpworkplace.com"},
		{"port kept", idp.Flow{Protocol: ProtocolName, Payload: payload("https://127.0.0.1:8443/cb")}, "https://127.0.0.1:8443"},
		{"other protocol", idp.Flow{Protocol: "saml", Payload: payload("https://a.example/cb")}, ""},
		{"broken payload", idp.Flow{Protocol: ProtocolName, Payload: []byte("{")}, ""},
		{"no scheme", idp.Flow{Protocol: ProtocolName, Payload: payload("//a.example/cb")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.FormActionOrigin(tc.flow); got != tc.want {
				t.Errorf("FormActionOrigin = %q, want %q", got, tc.want)
			}
		})
	}
}
