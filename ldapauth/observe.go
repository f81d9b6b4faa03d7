package ldapauth

import (
	"time"
)

// Observer receives the directory's health for metrics. server is the URL
// as configured (a bounded set), never anything a user typed.
type Observer interface {
	// LDAPRequest is called after every LDAP operation with its time and
	// result: "ok", "ldap_error" (the server answered with an error code,
	// e.g. a wrong password or no such object) or "network_error" (no
	// answer: the connection broke or timed out).
	LDAPRequest(server string, d time.Duration, result string)
	// LDAPFailover is called when a connection was made to server to after
	// server from failed to give one.
	LDAPFailover(from, to string)
}

// SetObserver sets the Observer. Call it before the first Authenticate or
// Check; it is not safe to call concurrently with them.
func (a *Authenticator) SetObserver(o Observer) { a.dir.observer = o }

// observe reports one operation on c that began at start.
func (c *conn) observe(start time.Time, err error) {
	if c.obs == nil {
		return
	}
	result := "ok"
	switch {
	case err == nil:
	case serverAnswered(err):
		result = "ldap_error"
	default:
		result = "network_error"
	}
	c.obs.LDAPRequest(c.srv.url, time.Since(start), result)
}
