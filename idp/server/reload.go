package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/ncp-sso/idp/templates"
)

// What can change while the server runs (SIGHUP): the TLS serving
// certificate (same file names, new contents) and the page and message
// files. Each reload is all or nothing: on any error the previous value
// stays in use.

// ReloadTLS reads server.tls.cert_file and key_file again; new handshakes
// get the new certificate, open connections keep theirs (see
// TLSCertificate for the one in use).
func (s *Server) ReloadTLS() error {
	if !s.cfg.TLS.Enabled() {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile)
	if err != nil {
		return fmt.Errorf("server: tls: %w", err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("server: tls: %w", err)
		}
	}
	s.tlsCert.Store(&cert)
	return nil
}

// TLSCertificate returns the serving certificate in use (nil without TLS
// or before Serve).
func (s *Server) TLSCertificate() *x509.Certificate {
	if c := s.tlsCert.Load(); c != nil {
		return c.Leaf
	}
	return nil
}

// ReloadTemplates parses the embedded pages and messages again with the
// override directory dir (server.templates_dir; empty for none).
func (s *Server) ReloadTemplates(dir string) error {
	set, err := templates.Load(dir, s.pageBrand())
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.pages.Store(set)
	return nil
}
