// Package metrics exposes the IdP's Prometheus metrics on a listener of
// their own (metrics.listen), apart from the public login port.
//
// Contract:
//   - Label values come only from bounded sets: configured SP IDs, SSO
//     modes, the idp.AuditEvent reasons, route patterns, configured LDAP
//     URLs, fixed kinds. Never a username, IP address, or anything a
//     browser typed.
//   - Every metric lives in the registry of one Metrics value (no global
//     registry), so tests and the selftest's temporary IdP do not collide.
//   - idp_sessions_active is an approximation kept in memory: sessions
//     started by this process that have not reached their expiry, minus
//     logouts. It starts at 0 after a restart and counts a session replaced
//     by a new login until the old one would have expired.
//
// Metrics:
//
//	idp_logins_total{sp,mode,result,reason}              counter
//	idp_http_request_duration_seconds{route}             histogram (token, userinfo, SAML SSO, login, ...)
//	idp_ldap_request_duration_seconds{server,result}     histogram (result: ok, ldap_error, network_error)
//	idp_ldap_errors_total{server}                        counter (no answer from the server)
//	idp_ldap_failovers_total{from,to}                    counter
//	idp_throttled_total{kind}                            counter (flow_ip, flow_global, login)
//	idp_sessions_active                                  gauge (approximate, see above)
//	idp_certificate_expiry_timestamp_seconds{cert}       gauge (saml_signing, saml_next, tls_serving)
package metrics
