package saml

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/certs"
	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/server"
)

// ProtocolName is the idp.Flow.Protocol value of SAML flows.
const ProtocolName = "saml"

// Endpoint paths.
const (
	PathSSO             = "/saml/sso"
	PathMetadata        = "/saml/metadata"
	PathCertificate     = "/saml/certificate.pem"
	PathNextCertificate = "/saml/certificate-next.pem"
	PathLogout          = "/saml/logout"
)

// certExpiryWarning is how early start-up warns about an expiring signing
// certificate.
const certExpiryWarning = 30 * 24 * time.Hour

// Options are New's optional dependencies.
type Options struct {
	// Now is the clock used to check the signing certificates at start-up.
	// Default time.Now.
	Now func() time.Time
	// Signing and NextSigning, when set, are used instead of the configured
	// key files (tests, or keys obtained elsewhere).
	Signing, NextSigning *certs.KeyPair
	// Logger receives start-up warnings. Default: discard.
	Logger *slog.Logger
	// Observer, when set, learns each signature's CPU time (the metrics).
	Observer SigningObserver
}

// Provider is the SAML 2.0 IdP protocol. It is immutable after New except
// for the Host, which Register sets once before the server starts.
type Provider struct {
	cfg Config
	reg *registry
	// signing signs Responses; published are the certificates in the
	// metadata (current, then next).
	signing *certs.KeyPair
	signer  signer // of signing
	current *certs.KeyPair
	next    *certs.KeyPair
	host    server.Host
}

var _ server.Protocol = (*Provider)(nil)

// New builds the Provider from a configuration (defaults are applied here
// too, so a zero duration means its default), loading and checking the
// signing keys.
func New(cfg Config, o Options) (*Provider, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.SetDefaults()
	ps := cfg.Validate()
	if o.Signing != nil {
		// Keys were handed in: the key file settings do not apply.
		ps = dropPrefix(ps, "signing.")
	}
	if err := ps.Err(); err != nil {
		return nil, fmt.Errorf("saml: %w", err)
	}
	reg, err := newRegistry(cfg.ServiceProviders)
	if err != nil {
		return nil, err
	}
	p := &Provider{cfg: cfg, reg: reg, current: o.Signing, next: o.NextSigning}
	now := o.Now()
	s := cfg.Signing
	switch {
	case p.current != nil:
	case s.KeyFile != "":
		if p.current, err = certs.Load(s.KeyFile, s.CertFile, now); err != nil {
			return nil, fmt.Errorf("saml: signing key: %w", err)
		}
	case s.InsecureEphemeralKey:
		o.Logger.Warn("saml_ephemeral_signing_key", "detail", "insecure_ephemeral_key: the signing certificate changes on every restart")
		if p.current, err = certs.Generate(certs.Options{Now: now, CommonName: "ephemeral SAML IdP signing"}); err != nil {
			return nil, fmt.Errorf("saml: ephemeral key: %w", err)
		}
	}
	if p.next == nil && s.NextKeyFile != "" {
		if p.next, err = certs.Load(s.NextKeyFile, s.NextCertFile, now); err != nil {
			return nil, fmt.Errorf("saml: next signing key: %w", err)
		}
	}
	p.signing = p.current
	if s.UseNext {
		if p.next == nil {
			return nil, errors.New("saml: signing.use_next is set but there is no next key pair")
		}
		p.signing = p.next
	}
	p.signer = newSigner(p.signing.Key, p.signing.Cert, o.Observer)
	for _, kp := range []*certs.KeyPair{p.current, p.next} {
		if kp != nil && kp.Cert.NotAfter.Sub(now) < certExpiryWarning {
			o.Logger.Warn("saml_certificate_expiring", "fingerprint", certs.Fingerprint(kp.Cert), "not_after", kp.Cert.NotAfter.UTC())
		}
	}
	return p, nil
}

func dropPrefix(ps idp.Problems, prefix string) idp.Problems {
	var out idp.Problems
	for _, p := range ps {
		if !strings.HasPrefix(p.Key, prefix) {
			out = append(out, p)
		}
	}
	return out
}

// Name implements server.Protocol.
func (p *Provider) Name() string { return ProtocolName }

// Register implements server.Protocol: it adds the SAML endpoints.
func (p *Provider) Register(e *echo.Echo, h server.Host) {
	p.host = h
	e.GET(PathSSO, p.handleSSO)
	e.POST(PathSSO, p.handleSSO)
	e.GET(PathMetadata, p.handleMetadata)
	e.GET(PathCertificate, p.handleCertificate)
	e.GET(PathNextCertificate, p.handleNextCertificate)
	e.GET(PathLogout, p.handleLogout)
	e.POST(PathLoginAPI, p.handleLoginAPI)
}

var _ server.BackChannel = (*Provider)(nil)

// BackChannelPaths implements server.BackChannel: NAVER WORKS's servers
// call the login API, and it does not wait behind browsers.
func (p *Provider) BackChannelPaths() []string { return []string{PathLoginAPI} }

// EntityID is the IdP entity ID (configured, or public URL + /saml/metadata).
func (p *Provider) EntityID() string {
	if p.cfg.EntityID != "" {
		return p.cfg.EntityID
	}
	return p.host.PublicURL() + PathMetadata
}

func (p *Provider) ssoURL() string { return p.host.PublicURL() + PathSSO }

func (p *Provider) builder() builder {
	return builder{
		issuer:            p.EntityID(),
		signer:            p.signer,
		signResponse:      *p.cfg.SignResponse,
		signAssertion:     *p.cfg.SignAssertion,
		assertionLifetime: p.cfg.AssertionLifetime,
		sessionLifetime:   p.cfg.SessionNotOnOrAfter,
	}
}

func (p *Provider) rand() io.Reader {
	if r := p.host.Rand(); r != nil {
		return r
	}
	return rand.Reader
}

// flowPayload is the validated AuthnRequest as parked in idp.Flow.Payload.
type flowPayload struct {
	// SP is the configured SP name.
	SP        string `json:"sp"`
	RequestID string `json:"request_id"`
	ACS       string `json:"acs"`
	// RelayState is echoed byte for byte; HasRelayState tells an empty one
	// from an absent one.
	RelayState    string `json:"relay_state,omitempty"`
	HasRelayState bool   `json:"has_relay_state,omitempty"`
	ForceAuthn    bool   `json:"force_authn,omitempty"`
	// Subject is the NameID the request's <Subject> names, if any: the
	// assertion must be about that principal or not be made (SAML core
	// §3.4.1).
	Subject string `json:"subject,omitempty"`
}

// errBadFlow: the Flow is not a usable SAML flow.
var errBadFlow = errors.New("saml: invalid flow")

// flowRequest decodes a Flow's payload and checks that it still makes
// sense under the running configuration (the SP still exists, the ACS is
// still allowed). Nothing time-bound is re-checked: that was done on
// arrival.
func (p *Provider) flowRequest(f idp.Flow) (*serviceProvider, flowPayload, error) {
	var pl flowPayload
	if f.Protocol != ProtocolName {
		return nil, pl, fmt.Errorf("%w: protocol %q", errBadFlow, f.Protocol)
	}
	dec := json.NewDecoder(bytes.NewReader(f.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pl); err != nil {
		return nil, pl, fmt.Errorf("%w: payload: %v", errBadFlow, err)
	}
	sp := p.reg.byName[pl.SP]
	if sp == nil {
		return nil, pl, fmt.Errorf("%w: SP %q no longer configured", errBadFlow, pl.SP)
	}
	if !isNCName(pl.RequestID) {
		return nil, pl, fmt.Errorf("%w: request ID", errBadFlow)
	}
	if err := sp.checkACS(pl.ACS); err != nil {
		return nil, pl, fmt.Errorf("%w: %v", errBadFlow, err)
	}
	if err := checkRelayState(pl.RelayState); err != nil {
		return nil, pl, fmt.Errorf("%w: %v", errBadFlow, err)
	}
	return sp, pl, nil
}
