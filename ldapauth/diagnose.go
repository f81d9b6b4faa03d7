package ldapauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/ncp-sso/idp/idp"
)

// Step is one stage of a diagnostic run (Authenticator.Diagnose), in the
// order a login takes them.
type Step struct {
	// Name is a short stage name: "connect", "service_bind", "search",
	// "identity", "groups", "user_bind", "sp_value".
	Name string
	OK   bool
	// Duration is how long the stage took.
	Duration time.Duration
	// Detail lines say what was done and found.
	Detail []string
	// Fix says what to change in the configuration when the stage failed.
	Fix string
}

// Diagnose walks the exact path of a login for username and reports every
// stage to report, for `idp ldap test`: the servers in order with TLS
// certificate details, the service bind, the rendered search filter and the
// entries found, the mapped identity and groups and, when password is not
// empty, the user bind with Active Directory's sub-code explained. With an
// empty username it stops after the service bind. It returns false when a
// stage failed. Passwords are never reported.
func (a *Authenticator) Diagnose(ctx context.Context, username, password string, report func(Step)) bool {
	username = strings.TrimSpace(username)
	c, ok := a.diagConnect(ctx, report)
	if !ok {
		return false
	}
	defer c.close()

	start := time.Now()
	err := a.serviceBind(ctx, c)
	st := Step{Name: "service_bind", OK: err == nil, Duration: time.Since(start)}
	switch {
	case a.cfg.AnonymousBind:
		st.Detail = append(st.Detail, "anonymous bind")
	default:
		st.Detail = append(st.Detail, "bind as "+a.cfg.BindDN)
	}
	if err != nil {
		st.Detail = append(st.Detail, "error: "+err.Error())
		st.Fix = "check ldap.bind_dn and ldap.bind_password (or bind_password_file): the service account must exist, be enabled and have this password"
		if code := subcodeOf(err); code != adNoSubcode {
			en, ko := ExplainSubcode(code)
			st.Detail = append(st.Detail, "AD data "+string(code)+": "+en+" / "+ko)
		}
	}
	report(st)
	if !st.OK || username == "" {
		return st.OK
	}

	entry, ok := a.diagSearch(ctx, c, username, report)
	if !ok {
		return false
	}

	id := a.identity(entry, username)
	st = Step{Name: "identity", OK: true, Detail: []string{
		"dn: " + id.DN,
		"subject (" + a.cfg.Attributes.Subject + "): " + id.Subject,
		"username (" + a.cfg.Attributes.Username + "): " + id.Username,
		"e-mail (" + a.cfg.Attributes.Email + fallbackNote(a.cfg.Attributes.EmailFallback) + "): " + orNone(id.Email),
		"display name (" + a.cfg.Attributes.DisplayName + "): " + orNone(id.DisplayName),
	}}
	if id.Subject == id.DN {
		st.Detail = append(st.Detail, "note: the entry has no "+a.cfg.Attributes.Subject+"; the DN is used as subject and changes when the user is renamed or moved")
	}
	if id.Email == "" {
		st.OK = false
		st.Fix = "the entry has no e-mail value: fill " + a.cfg.Attributes.Email + " in the directory, or set ldap.attributes.email / email_fallback to the attribute that holds it"
	}
	report(st)
	ok = st.OK

	if len(a.cfg.Groups.Required) > 0 || a.cfg.Groups.BaseDN != "" {
		start = time.Now()
		err := a.checkGroups(ctx, entry, &id)
		st = Step{Name: "groups", OK: err == nil, Duration: time.Since(start)}
		if len(id.Groups) > 0 {
			st.Detail = append(st.Detail, "groups: "+strings.Join(id.Groups, "; "))
		}
		var ae *idp.AccountError
		switch {
		case errors.As(err, &ae):
			st.Detail = append(st.Detail, "not permitted: "+ae.Reason)
			st.Fix = "add the user to one of ldap.groups.required, or check the group DNs" + nestedHint(a.cfg.Groups)
		case err != nil:
			st.Detail = append(st.Detail, "error: "+err.Error())
			st.Fix = "check ldap.groups.base_dn, filter and member_attribute"
		}
		report(st)
		ok = ok && st.OK
	}

	if password == "" {
		report(Step{Name: "user_bind", OK: true, Detail: []string{"skipped: no password given (use --password-stdin)"}})
	} else {
		ok = a.diagUserBind(ctx, c, entry, password, report) && ok
	}

	report(Step{Name: "sp_value", OK: id.Email != "", Detail: []string{
		"mail (OAuth userinfo email_id / SAML NameID by default): " + orNone(id.Attribute("mail")),
		"subject: " + id.Subject,
	}})
	return ok && id.Email != ""
}

// diagUserBind binds as the entry found, through the same entry throttle
// as a login: a diagnostic bind counts like a login attempt, and a
// throttled account is not bound at all.
func (a *Authenticator) diagUserBind(ctx context.Context, c *conn, entry *ldap.Entry, password string, report func(Step)) bool {
	st := Step{Name: "user_bind", Detail: []string{"bind as " + entry.DN}}
	done, err := a.beginBind(ctx, entry)
	if te, throttled := isThrottled(err); throttled {
		wait := max(1, int((te.RetryAfter+time.Minute-1)/time.Minute))
		st.Detail = append(st.Detail,
			fmt.Sprintf("not sent: too many failed logins for this account through the IdP; the next attempt is allowed in %d minute(s)", wait),
			fmt.Sprintf("보내지 않음: IdP를 통한 로그인 실패가 많아 %d분 뒤에 다시 시도할 수 있습니다", wait))
		st.Fix = "not a configuration problem: wait until the login throttle's window has passed (throttle.window), then try the right password once"
		report(st)
		return false
	}
	if err != nil {
		st.Detail = append(st.Detail, "not sent: "+err.Error())
		st.Fix = "the login throttle could not read the state store: check store:"
		report(st)
		return false
	}
	if a.entries != nil {
		st.Detail = append(st.Detail, "counted by the login throttle like a login attempt")
	}
	start := time.Now()
	res, err := a.bindUser(ctx, c.srv, entry.DN, password)
	done(bindOutcome(res, err))
	st.OK, st.Duration = err == nil && res.ok, time.Since(start)
	switch {
	case err != nil:
		st.Detail = append(st.Detail, "error: "+err.Error())
		st.Fix = "the directory did not answer the bind; check the servers and timeouts"
	case !res.ok:
		en, ko := ExplainSubcode(res.code)
		if res.code == adNoSubcode {
			en, ko = "invalid credentials", "아이디 또는 비밀번호가 올바르지 않습니다"
		}
		st.Detail = append(st.Detail, "refused: "+en, "거부됨: "+ko)
		if res.code != adNoSubcode {
			st.Detail = append(st.Detail, "AD data "+string(res.code))
		}
		st.Fix = "not a configuration problem if the password or account state is the cause; the login page shows: " + loginPageSays(res.code)
	case a.cfg.isAD():
		if state, locked, reason := adEntryState(entry, a.now()); locked || state != "" {
			st.OK = false
			st.Detail = append(st.Detail, "password accepted, but the account is refused: "+reason)
		}
	}
	report(st)
	return st.OK
}

// diagConnect dials the servers in configured order, reporting each, and
// returns the first connection that works.
func (a *Authenticator) diagConnect(ctx context.Context, report func(Step)) (*conn, bool) {
	for _, s := range a.dir.servers {
		start := time.Now()
		c, err := a.dir.dialServer(ctx, s)
		st := Step{Name: "connect", OK: err == nil, Duration: time.Since(start), Detail: []string{"server " + s.url + " (" + transport(s) + ")"}}
		if err == nil {
			if cs, ok := c.l.TLSConnectionState(); ok {
				st.Detail = append(st.Detail, certLines(cs.PeerCertificates, "verified against "+a.caSource())...)
			}
			report(st)
			return c, true
		}
		st.Detail = append(st.Detail, "error: "+err.Error())
		st.Fix = a.connectFix(ctx, s, err, &st)
		report(st)
	}
	return nil, false
}

// connectFix explains a failed connection; for a certificate problem it
// fetches the certificate without verifying it, only to show it.
func (a *Authenticator) connectFix(ctx context.Context, s *server, err error, st *Step) string {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var cve *tls.CertificateVerificationError
	// go-ldap's StartTLS flattens the handshake error into text.
	msg := err.Error()
	isCert := errors.As(err, &cve) || errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid) ||
		strings.Contains(msg, "x509: ")
	if isCert {
		if certs := a.peekCerts(ctx, s); len(certs) > 0 {
			st.Detail = append(st.Detail, certLines(certs, "NOT verified")...)
		}
	}
	switch {
	case errors.As(err, &host) || strings.Contains(msg, "x509: certificate is valid for") || strings.Contains(msg, "x509: cannot validate certificate"):
		return "the certificate is not valid for this host name: set ldap.server_name to a name the certificate lists, or use that name in the URL"
	case errors.As(err, &unknown) || strings.Contains(msg, "x509: certificate signed by unknown authority"):
		return "the certificate is signed by a CA we do not trust: set ldap.ca_file to a PEM file of that CA (the issuer above); never skip verification"
	case errors.As(err, &invalid) || strings.Contains(msg, "x509: certificate has expired"):
		return "the certificate is expired or not yet valid: renew it on the directory server"
	case isCert:
		return "the certificate could not be verified: set ldap.ca_file to the CA that signed it"
	case strings.Contains(msg, "starttls"):
		return "the server refused StartTLS: use ldaps://host:636, or enable TLS on the server"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "no answer within ldap.dial_timeout: check the host, port and firewall (389 for ldap://, 636 for ldaps://)"
	}
	return "cannot reach the server: check the host and port in ldap.urls and the firewall"
}

// peekCerts fetches the server's certificate chain without verification,
// for display only; nothing is ever sent over this connection.
func (a *Authenticator) peekCerts(ctx context.Context, s *server) []*x509.Certificate {
	if s.tls == nil {
		return nil
	}
	cfg := s.tls.Clone()
	cfg.InsecureSkipVerify = true // display only: the connection is closed unused
	dctx, cancel := context.WithTimeout(ctx, a.cfg.DialTimeout)
	defer cancel()
	var nd net.Dialer
	raw, err := nd.DialContext(dctx, "tcp", s.addr)
	if err != nil {
		return nil
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(a.cfg.DialTimeout))
	if s.ldaps {
		tc := tls.Client(raw, cfg)
		if tc.HandshakeContext(dctx) != nil {
			return nil
		}
		return tc.ConnectionState().PeerCertificates
	}
	l := ldap.NewConn(raw, false)
	l.Start()
	defer l.Close()
	l.SetTimeout(a.cfg.DialTimeout)
	if l.StartTLS(cfg) != nil {
		return nil
	}
	cs, _ := l.TLSConnectionState()
	return cs.PeerCertificates
}

// diagSearch runs the user search on c and reports the filter and entries.
func (a *Authenticator) diagSearch(ctx context.Context, c *conn, username string, report func(Step)) (*ldap.Entry, bool) {
	filter, ok := a.searchFilter(username)
	st := Step{Name: "search", Detail: []string{"base " + a.cfg.User.BaseDN + " (scope " + a.cfg.User.Scope + ")"}}
	if !ok {
		st.Detail = append(st.Detail, "the name "+username+" matches no enabled login form")
		st.Fix = "check ldap.active_directory.login_forms and netbios_domains"
		report(st)
		return nil, false
	}
	st.Detail = append(st.Detail, "filter "+filter)
	start := time.Now()
	req := ldap.NewSearchRequest(a.cfg.User.BaseDN, scopes[a.cfg.User.Scope], ldap.NeverDerefAliases,
		2, a.timeLimit(), false, filter, a.attrs, nil)
	var res *ldap.SearchResult
	err := c.do(ctx, func(l *ldap.Conn) error {
		var err error
		res, err = l.Search(req)
		return err
	})
	st.Duration = time.Since(start)
	if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) && res != nil {
		err = nil
	}
	switch {
	case err != nil:
		st.Detail = append(st.Detail, "error: "+err.Error())
		st.Fix = "check ldap.user.base_dn (it must exist and the service account must be able to read it) and ldap.user.filter"
	case len(res.Entries) == 0:
		st.Detail = append(st.Detail, "0 entries found")
		st.Fix = "no entry matches: check the name, ldap.user.base_dn, ldap.user.filter and the login attributes / forms"
	case len(res.Entries) > 1:
		st.Detail = append(st.Detail, "2 or more entries found (a login would be refused):")
		for _, e := range res.Entries {
			st.Detail = append(st.Detail, "  "+e.DN)
		}
		st.Fix = "the name must match exactly one entry: narrow ldap.user.filter or the login attributes"
	default:
		st.OK = true
		st.Detail = append(st.Detail, "1 entry found: "+res.Entries[0].DN)
	}
	if err == nil && len(res.Referrals) > 0 {
		st.Detail = append(st.Detail, fmt.Sprintf("%d referral(s) not followed", len(res.Referrals)))
	}
	report(st)
	if !st.OK {
		return nil, false
	}
	return res.Entries[0], true
}

func certLines(certs []*x509.Certificate, verified string) []string {
	if len(certs) == 0 {
		return nil
	}
	leaf := certs[0]
	out := []string{
		"certificate subject: " + leaf.Subject.String(),
		"certificate issuer: " + leaf.Issuer.String(),
		"certificate valid until: " + leaf.NotAfter.UTC().Format(time.RFC3339) + expiryNote(leaf.NotAfter),
		"certificate " + verified,
	}
	if len(leaf.DNSNames)+len(leaf.IPAddresses) > 0 {
		names := append([]string(nil), leaf.DNSNames...)
		for _, ip := range leaf.IPAddresses {
			names = append(names, ip.String())
		}
		out = append(out, "certificate names: "+strings.Join(names, ", "))
	}
	return out
}

func expiryNote(t time.Time) string {
	switch left := time.Until(t); {
	case left < 0:
		return " (EXPIRED)"
	case left < 30*24*time.Hour:
		return fmt.Sprintf(" (expires in %d days)", int(left.Hours()/24))
	}
	return ""
}

func (a *Authenticator) caSource() string {
	if a.cfg.CAFile != "" {
		return a.cfg.CAFile
	}
	return "the system roots"
}

func transport(s *server) string {
	switch {
	case s.ldaps:
		return "LDAPS"
	case s.startTLS:
		return "StartTLS"
	}
	return "plain LDAP, no TLS"
}

func loginPageSays(code ADSubcode) string {
	info, ok := subcodes[code]
	if !ok || info.state == "" {
		return "\"wrong ID or password\""
	}
	return "the " + string(info.state) + " message"
}

func nestedHint(g GroupsConfig) string {
	if g.Nested != nil && !*g.Nested {
		return "; membership through nested groups needs ldap.groups.nested: true"
	}
	return ""
}

func fallbackNote(f []string) string {
	if len(f) == 0 {
		return ""
	}
	return ", then " + strings.Join(f, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
