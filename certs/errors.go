package certs

import "errors"

// Errors returned (wrapped, with a message saying what to do) by Load.
var (
	// ErrKeyPermissions: the key file is readable or writable by group or others.
	ErrKeyPermissions = errors.New("certs: key file permissions too open")
	// ErrKeyMismatch: the private key does not belong to the certificate.
	ErrKeyMismatch = errors.New("certs: key does not match certificate")
	// ErrCertExpired: the certificate's NotAfter has passed.
	ErrCertExpired = errors.New("certs: certificate expired")
	// ErrCertNotYetValid: the certificate's NotBefore is in the future.
	ErrCertNotYetValid = errors.New("certs: certificate not yet valid")
	// ErrWeakKey: not RSA, or fewer than MinBits bits.
	ErrWeakKey = errors.New("certs: unsupported key")
	// ErrBadPEM: the file holds no usable PEM block of the expected type.
	ErrBadPEM = errors.New("certs: bad PEM")
)
