// Package slapdtest runs a real OpenLDAP slapd for tests.
//
// Start writes a slapd.conf into a t.TempDir (mdb database, a throwaway CA
// and server certificate for StartTLS and LDAPS), starts /usr/sbin/slapd in
// the foreground on free loopback ports and waits until the root DN can
// bind. The process is stopped by PID in t.Cleanup and, on Linux, killed by
// the kernel if the test binary dies first (Pdeathsig). A start takes a few
// tens of milliseconds, so tests start their own server whenever they need a
// special configuration, and several servers (parallel tests or packages)
// run side by side without sharing anything.
//
// Tests that share one server stay independent by creating their entries
// under their own organizational unit (Server.NewOU).
//
// When slapd is not installed a test is skipped with a hint
// ("apt-get install slapd ldap-utils"), except when the environment variable
// CI is set: then the test fails, so that CI never passes by running nothing.
package slapdtest
