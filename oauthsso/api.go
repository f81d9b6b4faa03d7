package oauthsso

import (
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/idp"
)

// apiError is an error answer of the token and userinfo APIs. Description is
// a constant, safe sentence for the SP; details go to the log only.
type apiError struct {
	Status      int
	Code        string
	Description string
}

// errorBody is the JSON error format. NumCode is the NAVER WORKS numeric
// code, sent only to clients with numeric_error_code.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
	NumCode     int    `json:"code,omitempty"`
}

// worksCodes maps error names to the NAVER WORKS numeric codes (101
// access_denied, 201 invalid_request, 301 unauthorized_client, 303
// invalid_access).
var worksCodes = map[string]int{
	"access_denied":          101,
	"invalid_request":        201,
	"unsupported_grant_type": 201,
	"invalid_client":         301,
	"unauthorized_client":    301,
	"invalid_grant":          303,
	"invalid_token":          303,
}

func errInvalidRequest(desc string) *apiError {
	return &apiError{http.StatusBadRequest, "invalid_request", desc}
}

var (
	errInvalidClient = &apiError{http.StatusUnauthorized, "invalid_client", "client authentication failed"}
	errThrottled     = &apiError{http.StatusTooManyRequests, "invalid_client", "too many failed attempts; try again later"}
	errServer        = &apiError{http.StatusInternalServerError, "server_error", "the request could not be completed"}
	// errUnavailable answers a store outage; the same call may succeed
	// after Retry-After (a code whose take failed is still unspent).
	errUnavailable = &apiError{http.StatusServiceUnavailable, "temporarily_unavailable", "the service is temporarily unavailable; try again shortly"}
)

// outageRetryAfter is the Retry-After of a 503 temporarily_unavailable
// answer: about how long a Redis Sentinel failover takes (1-5 s), and well
// inside a code's lifetime, so that an SP that retries can still redeem.
const outageRetryAfter = 5 * time.Second

// storeFailure is the answer to a store call that failed with err: 503
// temporarily_unavailable when the store itself could not serve
// (idp.ErrStoreUnavailable: down, failing over, closed), where a retry
// helps; 500 server_error for anything else (a corrupt record, a bug),
// where it does not. Neither carries err's text.
func storeFailure(err error) *apiError {
	if errors.Is(err, idp.ErrStoreUnavailable) {
		return errUnavailable
	}
	return errServer
}

// writeError sends e as JSON. cl (possibly nil: not yet authenticated, or
// unknown) decides whether the numeric NAVER WORKS code is added.
func (p *Provider) writeError(c echo.Context, cl *client, e *apiError) error {
	hdr := c.Response().Header()
	switch e.Code {
	case "invalid_client":
		if strings.HasPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Basic ") {
			hdr.Set("WWW-Authenticate", `Basic realm="oauth"`)
		}
	case "invalid_token":
		hdr.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	if e.Status == http.StatusServiceUnavailable {
		hdr.Set("Retry-After", strconv.Itoa(int(outageRetryAfter.Seconds())))
	}
	b := errorBody{Error: e.Code, Description: e.Description}
	if cl != nil && *cl.NumericErrorCode {
		b.NumCode = worksCodes[e.Code]
	}
	return c.JSON(e.Status, b)
}

func setNoStore(c echo.Context) {
	hdr := c.Response().Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Pragma", "no-cache")
}

func (p *Provider) methodNotAllowed(c echo.Context) error {
	setNoStore(c)
	c.Response().Header().Set("Allow", http.MethodPost)
	return p.writeError(c, nil, &apiError{http.StatusMethodNotAllowed, "invalid_request", "use POST"})
}

// readForm reads the body of a token or userinfo call strictly: POST with
// application/x-www-form-urlencoded, nothing in the query string (codes,
// tokens and secrets there end up in access logs), a capped body and no
// repeated parameter.
func readForm(c echo.Context) (params, *apiError) {
	r := c.Request()
	if r.URL.RawQuery != "" {
		return nil, errInvalidRequest("send parameters in the request body, not the query string")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	if err != nil || mt != echo.MIMEApplicationForm {
		return nil, errInvalidRequest("content type must be application/x-www-form-urlencoded")
	}
	if r.Header.Get("Content-Encoding") != "" {
		return nil, errInvalidRequest("compressed request bodies are not accepted")
	}
	if r.ContentLength > MaxBodyBytes {
		return nil, errInvalidRequest("request body too large")
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errInvalidRequest("request body too large")
		}
		return nil, errInvalidRequest("request body unreadable")
	}
	form, err := parseParams(string(body))
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, errInvalidRequest("request parameters too large")
		}
		return nil, errInvalidRequest("request body is not valid form encoding")
	}
	if k := form.duplicate(); k != "" {
		return nil, errInvalidRequest("parameter " + safeName(k) + " is repeated")
	}
	return form, nil
}

// authenticateClient authenticates the caller with client_id and
// client_secret form fields, or with HTTP Basic alone (RFC 6749 §2.3.1).
// Using both is refused (§2.3: one method per request).
func (p *Provider) authenticateClient(c echo.Context, form params) (*client, *apiError) {
	id, secret := form.get("client_id"), form.get("client_secret")
	if auth := c.Request().Header.Get(echo.HeaderAuthorization); auth != "" {
		bid, bsecret, ok := parseBasic(auth)
		switch {
		case !ok:
			return nil, errInvalidRequest("unsupported Authorization header; send client_id and client_secret in the form")
		case secret != "":
			return nil, errInvalidRequest("use one client authentication method, not Basic and form together")
		case id != "" && id != bid:
			return nil, errInvalidRequest("client_id differs from the Authorization header")
		}
		id, secret = bid, bsecret
	}
	if id == "" {
		return nil, errInvalidRequest("client_id is required")
	}
	if secret == "" {
		return nil, errInvalidClient
	}
	cl := p.clients[id]
	// Only registered clients are counted: an unknown ID has no secret to
	// guess, and counting it would let anyone fill the store with counters.
	// The limit is checked before the secret, so a throttled guesser learns
	// nothing even when it guesses right.
	if cl != nil {
		if aerr := p.allow(c, cl); aerr != nil {
			return nil, aerr
		}
	}
	if !checkSecret(cl, secret) {
		p.failed(c, cl)
		p.log(c).Info("oauth client authentication failed", "client_id", safeName(id), "known_client", cl != nil)
		return nil, errInvalidClient
	}
	return cl, nil
}

// allow asks the limiter whether cl may try again from the caller's address.
func (p *Provider) allow(c echo.Context, cl *client) *apiError {
	if p.limiter == nil {
		return nil
	}
	ok, err := p.limiter.Allow(c.Request().Context(), cl.ClientID, c.RealIP())
	if err != nil {
		p.log(c).Error("oauth client limiter failed", "client", cl.Name, "err", err)
		return storeFailure(err)
	}
	if !ok {
		p.log(c).Warn("oauth client throttled", "client", cl.Name, "ip", c.RealIP())
		c.Response().Header().Set("Retry-After", "300")
		return errThrottled
	}
	return nil
}

// failed counts a failure of a registered client (nil: not counted).
func (p *Provider) failed(c echo.Context, cl *client) {
	if p.limiter == nil || cl == nil {
		return
	}
	if err := p.limiter.Failed(c.Request().Context(), cl.ClientID, c.RealIP()); err != nil {
		p.log(c).Error("oauth client limiter failed", "client", cl.Name, "err", err)
	}
}

// parseBasic decodes "Basic base64(urlencode(id):urlencode(secret))".
func parseBasic(h string) (id, secret string, ok bool) {
	enc, found := strings.CutPrefix(h, "Basic ")
	if !found {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return "", "", false
	}
	i, s, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false
	}
	if id, err = url.QueryUnescape(i); err != nil {
		return "", "", false
	}
	if secret, err = url.QueryUnescape(s); err != nil {
		return "", "", false
	}
	return id, secret, true
}
