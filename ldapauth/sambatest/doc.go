// Package sambatest runs a real Samba Active Directory domain controller for
// tests.
//
// Shared provisions a throwaway domain once per test binary (samba-tool
// domain provision into a temporary directory: realm EXAMPLE.TEST, NetBIOS
// domain EXAMPLE, DNS backend none, only the LDAP service), gives it a
// certificate from a throwaway CA (Samba's self-made one has a negative
// serial number that Go's TLS rejects), sets the domain lockout threshold
// to LockoutThreshold and starts `samba -i -M single` on a loopback address
// of its own (127.0.0.x, ports 389/636), so several test binaries can run
// side by side. Provisioning takes a few seconds; tests create their users
// and groups with DC.SambaTool and tell them apart by name.
//
// The server is stopped by PID in StopShared (call it from TestMain) and
// dies with the test binary anyway: its standard input is a pipe the test
// binary holds, and Samba in interactive mode exits when it closes; on
// Linux Pdeathsig backs that up.
//
// Samba needs the Debian packages samba, samba-ad-provision,
// samba-dsdb-modules and samba-vfs-modules, and root (ports 389 and 636).
// Without them a test is skipped with a hint, except when the environment
// variable CI or IDP_REQUIRE_PEERS is set: then it fails, so that CI never
// passes by running nothing.
package sambatest
