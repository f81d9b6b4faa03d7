package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/ncp-sso/idp/certs"
)

// cmdKeygen implements `idp keygen`: it makes the RSA key and self-signed
// certificate that sign SAML Responses, writes PREFIX.key (mode 0600) and
// PREFIX.pem, and prints the .pem to upload to the SP console together with
// its SHA-256 fingerprint and expiry.
func cmdKeygen(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("idp keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "saml-signing", "path prefix of the files to write: PREFIX.key (private key, mode 0600) and PREFIX.pem (certificate to upload)")
	bits := fs.Int("bits", certs.DefaultBits, "RSA key size in bits: 2048, 3072 or 4096")
	days := fs.Int("days", int(certs.DefaultValidity/(24*time.Hour)), "certificate validity in days")
	cn := fs.String("cn", certs.DefaultCommonName, "certificate subject common name (e.g. your IdP host name)")
	force := fs.Bool("force", false, "replace PREFIX.key and PREFIX.pem if they exist (the old key is lost)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: idp keygen [flags]

Makes a new RSA signing key and a self-signed X.509 certificate for SAML.
Upload the .pem file as "Certificate File" in the SP's Developers console,
then set saml.signing.key_file / cert_file (or next_key_file /
next_cert_file for a rollover) to the written files.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "idp keygen: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *days <= 0 {
		fmt.Fprintln(stderr, "idp keygen: --days must be positive")
		return 2
	}
	kp, err := certs.Generate(certs.Options{
		Bits:       *bits,
		Validity:   time.Duration(*days) * 24 * time.Hour,
		CommonName: *cn,
	})
	if err != nil {
		fmt.Fprintf(stderr, "idp keygen: %v\n", err)
		return 1
	}
	keyFile, certFile := *out+".key", *out+".pem"
	if err := certs.WriteFiles(kp, keyFile, certFile, *force); err != nil {
		fmt.Fprintf(stderr, "idp keygen: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "Private key:  %s (mode 0600; keep it secret, never upload it)\n", keyFile)
	fmt.Fprintf(stdout, "Certificate:  %s  <- upload this .pem to the SP console\n", certFile)
	fmt.Fprintf(stdout, "SHA-256:      %s\n", certs.Fingerprint(kp.Cert))
	fmt.Fprintf(stdout, "Valid until:  %s\n", kp.Cert.NotAfter.UTC().Format(time.RFC3339))
	return 0
}
