package server

import (
	"io"
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ncp-sso/idp/idp"
)

// Protocol is an SSO mode plugged into the server (OAuth, SAML, the test
// protocol). It validates the SP's request once, parks it as an idp.Flow
// through Host.BeginFlow, and answers the SP when the server hands the Flow
// back after login.
type Protocol interface {
	// Name is the idp.Flow.Protocol value this protocol owns ("oauth", "saml").
	Name() string
	// Register adds the protocol's endpoints to e. It is called once, before
	// the server starts; h stays valid for the server's lifetime.
	Register(e *echo.Echo, h Host)
	// Resume answers the SP for a Flow whose user is authenticated (just now,
	// or earlier through the live SSO session sess). The Flow has already been
	// taken from the store: it cannot be resumed twice.
	Resume(c echo.Context, f idp.Flow, sess idp.Session) error
	// Deny answers the SP for a Flow whose user authenticated but may not
	// sign in (ae.State is idp.StateNotPermitted or another account state),
	// e.g. OAuth error=access_denied or SAML RequestDenied.
	Deny(c echo.Context, f idp.Flow, ae *idp.AccountError) error
}

// Host is what the server offers a Protocol.
type Host interface {
	// BeginFlow stores f (ID, CreatedAt and ExpiresAt are filled in when
	// empty) and sends the browser to the login page. With a live SSO session
	// and !f.ForceAuthn, it resumes the Flow at once without the form.
	BeginFlow(c echo.Context, f idp.Flow) error
	// Session returns the browser's live SSO session, if any.
	Session(c echo.Context) (idp.Session, bool)
	// EndSession ends the browser's SSO session (logout) and clears the
	// cookie; it returns the session that was ended, if there was one.
	EndSession(c echo.Context) (idp.Session, bool)
	// ErrorPage renders the Korean/English error page with an HTTP status and
	// a message key from the catalog (templates/messages/*.json). Nothing
	// internal is ever shown; the page carries the request's reference ID.
	ErrorPage(c echo.Context, status int, msgKey string) error
	// Render renders a page template (templates/<name>.html, which defines
	// "title" and "content") inside the common layout, with data available to
	// the template as .Data.
	Render(c echo.Context, status int, name string, data any) error
	// Store is the state store (sessions, flows, codes, replay guard).
	Store() idp.Store
	// Now is the server's clock.
	Now() time.Time
	// Rand is the server's randomness source (crypto/rand in production).
	Rand() io.Reader
	// Logger is the server's structured logger.
	Logger() *slog.Logger
	// PublicURL is the externally visible base URL ("https://sso.example.com"),
	// without a trailing slash, for building URLs the SP or browser will use.
	PublicURL() string
}
