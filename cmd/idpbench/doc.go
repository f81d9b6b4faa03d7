// Command idpbench is the load generator behind `make bench` and
// `make bench-compare`. It builds everything it measures in a temporary
// directory and tears it down at the end:
//
//   - a real OpenLDAP slapd loaded with generated users (`slapadd` of a
//     generated LDIF, equality indexes on uid and mail);
//   - our IdP as a separate process (the built binary with a generated
//     config file and a bbolt store), and with -compare SimpleSAMLphp
//     (Debian package) under its own Apache started with our own config
//     file, both signing with the same RSA-2048 key against the same slapd;
//   - many browsers: every login has a fresh cookie jar, fetches the login
//     page, submits the HTML form it finds there, and for OAuth plays the
//     SP's token and userinfo calls; for SAML a sample of Responses is
//     verified as an SP would (crewjam/saml ServiceProvider with only the
//     IdP certificate).
//
// Where the machine has at least two CPUs the IdP under test runs pinned to
// the last CPU and slapd plus the generator to the others (taskset), so the
// IdP's CPU time per login is measured on a core of its own. Each cell
// (mode × concurrency) runs a warm-up, then a fixed measuring window; CPU
// per login comes from /proc/<pid>/stat utime+stime deltas over the window
// (for Apache the whole process tree). The report goes to stdout and, as
// Markdown and JSON, to -out.
//
// The generator's own CPU per login is reported too, since on a small
// machine it competes with the IdP: pages are read with a form scanner that
// follows the HTML tokenizer's rules (held to golang.org/x/net/html by
// TestFormsAgainstTokenizer and FuzzForms) instead of tokenizing every
// byte, DEFLATE writers and read buffers are reused, and the generator runs
// with GOGC=800 unless GOGC is set. -genprofile FILE writes a CPU profile
// of the generator itself.
//
// It is a benchmark tool: it never runs as part of `make test`.
package main
