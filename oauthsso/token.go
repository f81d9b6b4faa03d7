package oauthsso

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/idp"
)

var (
	errGrant = &apiError{http.StatusBadRequest, "invalid_grant", "the code is invalid, expired or already used"}
	// errGrantUnknown answers like errGrant; it marks a code that never
	// existed (a guess), which counts against the client's failure limit.
	errGrantUnknown = &apiError{http.StatusBadRequest, "invalid_grant", "the code is invalid, expired or already used"}
	errToken        = &apiError{http.StatusUnauthorized, "invalid_token", "the access token is invalid or expired"}
)

// tokenResponse is the Access Token Return API success body. ExpiresIn is a
// string or a number, per client (expires_in_type).
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   any    `json:"expires_in"`
}

// token is the Access Token Return API.
func (p *Provider) token(c echo.Context) error {
	setNoStore(c)
	form, aerr := readForm(c)
	if aerr != nil {
		return p.writeError(c, nil, aerr)
	}
	claimed := p.clients[form.get("client_id")] // for the error format only
	switch gt := form.get("grant_type"); {
	case gt == "":
		return p.writeError(c, claimed, errInvalidRequest("grant_type is required"))
	case gt != "authorization_code":
		return p.writeError(c, claimed, &apiError{http.StatusBadRequest, "unsupported_grant_type", "only authorization_code is supported"})
	}
	// The client authenticates before the code is touched, so nobody without
	// a client secret can burn a code.
	cl, aerr := p.authenticateClient(c, form)
	if aerr != nil {
		return p.writeError(c, claimed, aerr)
	}
	codeID := form.get("code")
	if codeID == "" {
		return p.writeError(c, cl, errInvalidRequest("code is required"))
	}
	// A redemption is carried through even when the SP hangs up: once the
	// code is touched, the revocations that keep a replay from leaving a
	// live token must not be skipped because the caller went away (a
	// replaying client could otherwise disconnect to keep its token).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), redeemTimeout)
	defer cancel()
	tok, aerr := p.redeem(ctx, cl, codeID, form)
	if aerr != nil {
		if aerr == errGrantUnknown {
			p.failed(c, cl)
		}
		return p.writeError(c, cl, aerr)
	}
	resp := tokenResponse{AccessToken: tok.ID, TokenType: "Bearer"}
	secs := expiresIn(tok, cl, p.h.Now())
	if cl.ExpiresInType == "number" {
		resp.ExpiresIn = secs
	} else {
		resp.ExpiresIn = strconv.FormatInt(secs, 10)
	}
	return c.JSON(http.StatusOK, resp)
}

// expiresIn is what is left of tok's lifetime at now, in whole seconds,
// never more than is left: the lifetime runs from when the code was issued
// (issue), normally milliseconds before the token call, and issue adds a
// second of grace so that a prompt SP is told the configured lifetime.
func expiresIn(tok idp.Token, cl *client, now time.Time) int64 {
	return min(int64(tok.ExpiresAt.Sub(now)/time.Second), int64(cl.AccessTokenLifetime/time.Second))
}

// redeemTimeout bounds a redemption that no longer listens to its caller.
const redeemTimeout = 10 * time.Second

// redeem spends a code and returns the token stored with it (issue).
//
// It reads the code first and checks it, then spends it: only TakeCode
// decides who redeems, and nothing is written but the spent mark, so the
// call never waits for a disk commit. A code refused after it was read is
// burnt and its unseen token deleted; a replay revokes the token the first
// redemption handed out (revokeToken).
func (p *Provider) redeem(ctx context.Context, cl *client, codeID string, form params) (idp.Token, *apiError) {
	log := p.logCtx(ctx)
	st := p.h.Store()
	now := p.h.Now()
	code, err := st.GetCode(ctx, codeID)
	if err != nil {
		// Spent, unknown, expired, or the store failed: taking it tells
		// a replay (whose token is revoked) from a guess.
		taken, aerr := p.take(ctx, cl, codeID)
		if aerr == nil {
			// It was redeemable after all (written between the read and
			// the take); it is spent now, and this call is refused.
			log.Warn("oauth token refused", "client", cl.Name, "reason", "code appeared during redemption")
			p.revokeToken(ctx, cl, taken.TokenID)
			aerr = errGrant
		}
		return idp.Token{}, aerr
	}
	// The code is spent whatever happens below: a code presented by the
	// wrong client or with the wrong redirect_uri is burnt, not retried.
	reason := ""
	switch {
	case code.ClientID != cl.ClientID:
		reason = "code issued to another client"
	case !now.Before(code.ExpiresAt):
		reason = "code expired"
	case form["redirect_uri"] != nil && form.get("redirect_uri") != code.RedirectURI:
		reason = "redirect_uri differs from the login request"
	}
	// The reads come before the take, so that a failed read leaves the
	// code unspent for the SP's retry (503, Retry-After). A replay that
	// spends the code after these reads revokes the token after it is
	// handed out.
	var sess idp.Session
	var tok idp.Token
	if reason == "" {
		// A logout between login and token call ends the grant too.
		sess, err = st.GetSession(ctx, code.SessionID)
		switch {
		case errors.Is(err, idp.ErrNotFound):
			reason = "session ended"
		case err != nil:
			log.Error("oauth session read failed", "client", cl.Name, "err", err)
			return idp.Token{}, storeFailure(err)
		}
	}
	if reason == "" {
		tok, err = st.GetToken(ctx, code.TokenID)
		switch {
		case errors.Is(err, idp.ErrNotFound):
			// Deleted since issue: a replay of this code, or lost with
			// the store (a Redis failover).
			reason = "token gone before redemption"
		case err != nil:
			log.Error("oauth token read failed", "client", cl.Name, "err", err)
			return idp.Token{}, storeFailure(err)
		case expiresIn(tok, cl, now) < 1:
			reason = "token expired before redemption"
		}
	}
	_, aerr := p.take(ctx, cl, codeID)
	switch {
	case aerr == errGrantUnknown:
		// It existed a moment ago (not a guess) and expired meanwhile.
		p.revokeToken(ctx, cl, code.TokenID)
		return idp.Token{}, errGrant
	case aerr != nil:
		// Spent already (this take revoked the token as a replay's), or
		// the store failed and the code is still unspent for a retry.
		return idp.Token{}, aerr
	case reason != "":
		// This call burnt the code: its token is never handed out.
		p.revokeToken(ctx, cl, code.TokenID)
		log.Warn("oauth token refused", "client", cl.Name, "reason", reason)
		return idp.Token{}, errGrant
	}
	log.Info("oauth token issued", "client", cl.Name, "username", sess.Identity.Username)
	return tok, nil
}

// revokeToken deletes the token of a code: a code spent without handing
// its token out (nobody has seen the ID, so a failure only leaves an
// unusable record until it expires), or a replayed one. The token was
// stored before the code left the server (issue), so one delete ends it
// whether the redemption that spent the code has answered yet or not.
func (p *Provider) revokeToken(ctx context.Context, cl *client, tokenID string) {
	if tokenID == "" {
		return
	}
	if err := p.h.Store().RevokeToken(ctx, tokenID); err != nil {
		p.logCtx(ctx).Error("oauth token revoke failed", "client", cl.Name, "err", err)
	}
}

// take spends the code. A spent code is a replay: its token is revoked
// and the answer is invalid_grant; an unknown or expired
// code is errGrantUnknown.
func (p *Provider) take(ctx context.Context, cl *client, codeID string) (idp.Code, *apiError) {
	log := p.logCtx(ctx)
	code, err := p.h.Store().TakeCode(ctx, codeID)
	switch {
	case errors.Is(err, idp.ErrAlreadyUsed):
		log.Warn("oauth code replayed", "client", cl.Name, "code_client_id", code.ClientID)
		p.revokeToken(ctx, cl, code.TokenID)
		return code, errGrant
	case errors.Is(err, idp.ErrNotFound):
		log.Info("oauth token refused", "client", cl.Name, "reason", "unknown or expired code")
		return code, errGrantUnknown
	case err != nil:
		log.Error("oauth code take failed", "client", cl.Name, "err", err)
		return code, storeFailure(err)
	}
	return code, nil
}

// userinfoAnswer is written as {"<userinfo_field>": value}.
func (p *Provider) userinfo(c echo.Context) error {
	setNoStore(c)
	form, aerr := readForm(c)
	if aerr != nil {
		return p.writeError(c, nil, aerr)
	}
	claimed := p.clients[form.get("client_id")]
	cl, aerr := p.authenticateClient(c, form)
	if aerr != nil {
		return p.writeError(c, claimed, aerr)
	}
	tokID := form.get("access_token")
	if tokID == "" {
		return p.writeError(c, cl, errInvalidRequest("access_token is required"))
	}
	log := p.log(c)
	ctx := c.Request().Context()
	st := p.h.Store()
	// Read-only path: one token read, one session read, no writes.
	tok, err := st.GetToken(ctx, tokID)
	switch {
	case errors.Is(err, idp.ErrNotFound):
		log.Info("oauth userinfo refused", "client", cl.Name, "reason", "unknown, revoked or expired token")
		p.failed(c, cl)
		return p.writeError(c, cl, errToken)
	case err != nil:
		log.Error("oauth token read failed", "client", cl.Name, "err", err)
		return p.writeError(c, cl, storeFailure(err))
	}
	reason := ""
	switch {
	case tok.ClientID != cl.ClientID:
		reason = "token issued to another client"
	case !p.h.Now().Before(tok.ExpiresAt):
		reason = "token expired"
	}
	// The identity comes from the session: a token lives no longer than
	// the sign-in it was issued in.
	var sess idp.Session
	if reason == "" {
		if sess, err = st.GetSession(ctx, tok.SessionID); err != nil {
			if !errors.Is(err, idp.ErrNotFound) {
				log.Error("oauth session read failed", "client", cl.Name, "err", err)
				return p.writeError(c, cl, storeFailure(err))
			}
			reason = "session ended"
		}
	}
	if reason != "" {
		log.Info("oauth userinfo refused", "client", cl.Name, "reason", reason)
		return p.writeError(c, cl, errToken)
	}
	v := sess.Identity.Attribute(cl.UserinfoAttribute)
	if v == "" {
		log.Error("oauth identity lacks userinfo attribute", "client", cl.Name,
			"username", sess.Identity.Username, "attribute", cl.UserinfoAttribute)
		return p.writeError(c, cl, errServer)
	}
	return c.JSON(http.StatusOK, map[string]string{cl.UserinfoField: v})
}
