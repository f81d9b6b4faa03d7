// Package certs makes and loads the RSA key and self-signed X.509
// certificate that sign SAML Responses.
//
// What must hold:
//   - A private key file is written with mode 0600 and is refused at load
//     time when the group or others can read it (the message says
//     "chmod 600 FILE").
//   - A key that does not match its certificate, a certificate that has
//     expired (or is not yet valid), a non-RSA key and an RSA key under 2048
//     bits are refused at load time, each with a message saying how to fix
//     it.
//   - Certificates are written as PEM "-----BEGIN CERTIFICATE-----" blocks,
//     the form the NCP WORKPLACE / NAVER WORKS console accepts as a .pem
//     upload.
//   - Development and demo keys are generated at run time (Generate) and
//     never committed to the repository.
//
// A second ("next") key pair supports rollover: the saml package publishes
// both certificates in its metadata and signs with whichever the
// configuration selects.
package certs
