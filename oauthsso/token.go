package oauthsso

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/idp"
)

// replayNamespace is the idp.ReplayGuard namespace in which the token call
// and a replayed code meet (see revokeOnReplay).
const replayNamespace = "oauth_code_token"

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
	secs := int64(cl.AccessTokenLifetime.Seconds())
	if cl.ExpiresInType == "number" {
		resp.ExpiresIn = secs
	} else {
		resp.ExpiresIn = strconv.FormatInt(secs, 10)
	}
	return c.JSON(http.StatusOK, resp)
}

// redeemTimeout bounds a redemption that no longer listens to its caller.
const redeemTimeout = 10 * time.Second

// redeem consumes a code and stores the token issued from it.
//
// It reads the code first and checks it; then it spends the code and
// stores the token at the same time, so that both writes share one store
// commit (the token call waits for the disk once, not twice). Only
// TakeCode decides who redeems: a redemption that loses a race, or finds
// the code gone, deletes the token it wrote, and a replay revokes the
// token as before (revokeOnReplay).
func (p *Provider) redeem(ctx context.Context, cl *client, codeID string, form params) (idp.Token, *apiError) {
	log := p.logCtx(ctx)
	st := p.h.Store()
	now := p.h.Now()
	code, err := st.GetCode(ctx, codeID)
	if err != nil {
		// Spent, unknown, expired, or the store failed: taking it tells
		// a replay (whose token is revoked) from a guess.
		aerr := p.take(ctx, cl, codeID)
		if aerr == nil {
			// It was redeemable after all (written between the read and
			// the take); it is spent now, and this call is refused.
			log.Warn("oauth token refused", "client", cl.Name, "reason", "code appeared during redemption")
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
	var sess idp.Session
	if reason == "" {
		// A logout between login and token call ends the grant too.
		sess, err = st.GetSession(ctx, code.SessionID)
		switch {
		case errors.Is(err, idp.ErrNotFound):
			reason = "session ended"
		case err != nil:
			log.Error("oauth session read failed", "client", cl.Name, "err", err)
			_ = p.take(ctx, cl, codeID)
			return idp.Token{}, storeFailure(err)
		}
	}
	if reason != "" {
		if aerr := p.take(ctx, cl, codeID); aerr != nil {
			return idp.Token{}, aerr
		}
		log.Warn("oauth token refused", "client", cl.Name, "reason", reason)
		return idp.Token{}, errGrant
	}
	tok := idp.Token{
		ID:        code.TokenID,
		ClientID:  cl.ClientID,
		SessionID: code.SessionID,
		IssuedAt:  now,
		ExpiresAt: now.Add(cl.AccessTokenLifetime),
	}
	var putErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		putErr = st.PutToken(ctx, tok)
	}()
	aerr := p.take(ctx, cl, codeID)
	wg.Wait()
	if aerr == nil && putErr != nil {
		log.Error("oauth token store failed", "client", cl.Name, "err", putErr)
		aerr = storeFailure(putErr)
	}
	if aerr != nil {
		// Lost the race, the code expired meanwhile, or a write failed:
		// no token from this call may stay behind. (A replay has revoked
		// it already; revoking twice is harmless.)
		if rerr := st.RevokeToken(ctx, tok.ID); rerr != nil {
			log.Error("oauth token revoke failed", "client", cl.Name, "err", rerr)
		}
		if aerr == errGrantUnknown {
			aerr = errGrant // it existed a moment ago: not a guess
		}
		return idp.Token{}, aerr
	}
	// Meet a concurrent replay of the same code (see revokeOnReplay): if the
	// replay marked the token first, it may have revoked before PutToken ran,
	// so revoke here.
	first, err := st.FirstUse(ctx, replayNamespace, tok.ID, now.Add(p.maxToken))
	if err != nil || !first {
		if rerr := st.RevokeToken(ctx, tok.ID); rerr != nil {
			log.Error("oauth token revoke failed", "client", cl.Name, "err", rerr)
		}
		if err != nil {
			log.Error("oauth replay guard failed", "client", cl.Name, "err", err)
			return idp.Token{}, storeFailure(err)
		}
		log.Warn("oauth code replayed during redemption", "client", cl.Name)
		return idp.Token{}, errGrant
	}
	log.Info("oauth token issued", "client", cl.Name, "username", sess.Identity.Username)
	return tok, nil
}

// take spends the code. A spent code is a replay: its token is revoked
// (revokeOnReplay) and the answer is invalid_grant; an unknown or expired
// code is errGrantUnknown.
func (p *Provider) take(ctx context.Context, cl *client, codeID string) *apiError {
	log := p.logCtx(ctx)
	code, err := p.h.Store().TakeCode(ctx, codeID)
	switch {
	case errors.Is(err, idp.ErrAlreadyUsed):
		log.Warn("oauth code replayed", "client", cl.Name, "code_client_id", code.ClientID)
		p.revokeOnReplay(ctx, code)
		return errGrant
	case errors.Is(err, idp.ErrNotFound):
		log.Info("oauth token refused", "client", cl.Name, "reason", "unknown or expired code")
		return errGrantUnknown
	case err != nil:
		log.Error("oauth code take failed", "client", cl.Name, "err", err)
		return storeFailure(err)
	}
	return nil
}

// revokeOnReplay revokes the token named by a spent code. The redemption
// that spent the code may still be running, between TakeCode and PutToken,
// so a bare RevokeToken could run first and miss the token. Both sides
// therefore mark the token ID in the replay guard, which is atomic, and act
// on what they find:
//
//	winner: PutToken, then mark; already marked → revoke itself
//	replay: mark, then RevokeToken
//
// Whichever marks second sees the other, and in either order the token is
// revoked after it was stored.
func (p *Provider) revokeOnReplay(ctx context.Context, code idp.Code) {
	log := p.logCtx(ctx)
	st := p.h.Store()
	if code.TokenID == "" {
		return
	}
	if _, err := st.FirstUse(ctx, replayNamespace, code.TokenID, p.h.Now().Add(p.maxToken)); err != nil {
		log.Error("oauth replay guard failed", "err", err)
	}
	if err := st.RevokeToken(ctx, code.TokenID); err != nil {
		log.Error("oauth token revoke failed", "err", err)
	}
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
