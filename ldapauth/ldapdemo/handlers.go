package ldapdemo

import (
	"log/slog"
	"sync"

	"github.com/jimlambrt/gldap"
)

// sessions tracks the entry each connection is bound as. A connection absent
// from the map is anonymous. Entries are removed when gldap reports the
// connection closed, so the map holds at most one entry per open connection.
type sessions struct {
	mu    sync.Mutex
	bound map[int]string // gldap connection ID -> DN as written in the LDIF
}

func (s *sessions) set(connID int, dn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if dn == "" {
		delete(s.bound, connID)
		return
	}
	s.bound[connID] = dn
}

func (s *sessions) get(connID int) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dn, ok := s.bound[connID]
	return dn, ok
}

// handlers answers LDAP operations for one Server.
type handlers struct {
	dir      *Directory
	sessions *sessions
	log      *slog.Logger
}

func (h *handlers) mux() (*gldap.Mux, error) {
	m, err := gldap.NewMux()
	if err != nil {
		return nil, err
	}
	for _, reg := range []func() error{
		func() error { return m.Bind(h.bind) },
		func() error { return m.Search(h.search) },
		func() error { return m.Add(h.refuse(gldap.ApplicationAddResponse)) },
		func() error { return m.Modify(h.refuse(gldap.ApplicationModifyResponse)) },
		func() error { return m.Delete(h.refuse(gldap.ApplicationDelResponse)) },
		func() error { return m.ExtendedOperation(h.startTLS, gldap.ExtendedOperationStartTLS) },
		func() error { return m.DefaultRoute(h.unknownExtended) },
	} {
		if err := reg(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// bind implements simple bind. Only a bind with a DN and the right password
// authenticates; any failed bind leaves the connection anonymous (RFC 4511
// 4.2.1), so a connection that was bound as the service account cannot keep
// searching after a user's wrong password on the same connection.
func (h *handlers) bind(w *gldap.ResponseWriter, r *gldap.Request) {
	m, err := r.GetSimpleBindMessage()
	if err != nil {
		h.writeBind(w, r, gldap.ResultProtocolError, "only simple bind is supported")
		return
	}
	connID := r.ConnectionID()
	h.sessions.set(connID, "")
	name, password := m.UserName, string(m.Password)
	switch {
	case name == "" && password == "":
		h.writeBind(w, r, gldap.ResultSuccess, "")
	case password == "":
		// An unauthenticated bind (RFC 4513 5.1.2) would "succeed" without
		// checking anything; a client that forgets the password must not
		// look logged in.
		h.log.Debug("ldapdemo bind refused", "reason", "empty_password", "dn", name)
		h.writeBind(w, r, gldap.ResultUnwillingToPerform, "unauthenticated bind (DN with empty password) is not allowed")
	default:
		e, ok := h.dir.lookup(name)
		if !ok || !passwordMatches(e.passwords, password) {
			// Unknown DN and wrong password answer alike.
			h.log.Debug("ldapdemo bind failed", "dn", name)
			h.writeBind(w, r, gldap.ResultInvalidCredentials, "invalid credentials")
			return
		}
		h.sessions.set(connID, e.dn)
		h.log.Debug("ldapdemo bind succeeded", "dn", e.dn)
		h.writeBind(w, r, gldap.ResultSuccess, "")
	}
}

func (h *handlers) writeBind(w *gldap.ResponseWriter, r *gldap.Request, code int, diag string) {
	resp := r.NewBindResponse(gldap.WithResponseCode(code))
	resp.SetDiagnosticMessage(diag)
	_ = w.Write(resp) // a write error means the client went away
}

// search answers a search from a bound connection.
func (h *handlers) search(w *gldap.ResponseWriter, r *gldap.Request) {
	done := func(code int, diag, matched string) {
		resp := r.NewSearchDoneResponse(gldap.WithResponseCode(code))
		resp.SetDiagnosticMessage(diag)
		resp.SetMatchedDN(matched)
		_ = w.Write(resp)
	}
	m, err := r.GetSearchMessage()
	if err != nil {
		done(gldap.ResultProtocolError, "not a search request", "")
		return
	}
	if _, ok := h.sessions.get(r.ConnectionID()); !ok {
		done(gldap.ResultInsufficientAccessRights, "bind before searching", "")
		return
	}
	results, rerr := h.dir.search(query{
		baseDN:    m.BaseDN,
		scope:     m.Scope,
		filter:    m.Filter,
		attrs:     m.Attributes,
		sizeLimit: m.SizeLimit,
		typesOnly: m.TypesOnly,
	})
	for _, res := range results {
		entry := r.NewSearchResponseEntry(res.dn)
		for _, a := range res.attrs {
			entry.AddAttribute(a.name, a.values)
		}
		if err := w.Write(entry); err != nil {
			return // the client went away
		}
	}
	if rerr != nil {
		done(rerr.code, rerr.message, rerr.matchedDN)
		return
	}
	done(gldap.ResultSuccess, "", "")
}

// refuse answers add, modify and delete: the directory is read-only.
func (h *handlers) refuse(appCode int) gldap.HandlerFunc {
	return func(w *gldap.ResponseWriter, r *gldap.Request) {
		_ = w.Write(r.NewResponse(
			gldap.WithApplicationCode(appCode),
			gldap.WithResponseCode(gldap.ResultUnwillingToPerform),
			gldap.WithDiagnosticMessage("the demo directory is read-only"),
		))
	}
}

// startTLS is refused: the demo listens on loopback only, in plain LDAP.
func (h *handlers) startTLS(w *gldap.ResponseWriter, r *gldap.Request) {
	resp := r.NewExtendedResponse(gldap.WithResponseCode(gldap.ResultUnavailable))
	resp.SetResponseName(gldap.ExtendedOperationStartTLS)
	resp.SetDiagnosticMessage("StartTLS is not available on the demo directory")
	_ = w.Write(resp)
}

// unknownExtended answers every other extended operation with protocolError,
// as RFC 4511 4.12 asks for an unrecognised request name.
func (h *handlers) unknownExtended(w *gldap.ResponseWriter, r *gldap.Request) {
	resp := r.NewExtendedResponse(gldap.WithResponseCode(gldap.ResultProtocolError))
	resp.SetDiagnosticMessage("unsupported operation")
	_ = w.Write(resp)
}
