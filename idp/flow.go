package idp

import (
	"context"
	"errors"
	"time"
)

// Flow is a validated, pending request from an SP, parked while the user logs
// in. The protocol that created it validated it once; nothing is re-validated
// after the user typed. A Flow is taken from the store exactly once.
type Flow struct {
	// ID is the random handle the login page carries (never guessable).
	ID string `json:"id"`
	// Protocol names the protocol that owns the Flow ("oauth", "saml", ...).
	Protocol string `json:"protocol"`
	// SP is the client ID or SP entity ID, for display and audit.
	SP string `json:"sp"`
	// SPName is a human-readable SP name for the login page ("NCP WORKPLACE").
	SPName string `json:"sp_name,omitempty"`
	// LoginHint prefills the username (loginId / worksId).
	LoginHint string `json:"login_hint,omitempty"`
	// ForceAuthn asks for the password even with a live session.
	ForceAuthn bool `json:"force_authn,omitempty"`
	// Payload is the protocol's own validated request, opaque to the core.
	Payload []byte `json:"payload,omitempty"`
	// CreatedAt and ExpiresAt bound how long the user may take to log in.
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Session is a single sign-on session, referenced by the browser's cookie.
type Session struct {
	ID        string    `json:"id"`
	Identity  Identity  `json:"identity"`
	AuthTime  time.Time `json:"auth_time"`
	ExpiresAt time.Time `json:"expires_at"`
	// ClientIP and UserAgent are recorded for audit.
	ClientIP  string `json:"ip,omitempty"`
	UserAgent string `json:"ua,omitempty"`
}

// Code is a one-time OAuth authorization code. ID is the code as sent to the
// SP; backends may store a hash of it. Identity may be left empty when the
// redeemer reads it from the session named by SessionID (oauthsso does, to
// keep code records small); either way the token call never waits on the
// directory.
type Code struct {
	ID          string    `json:"id"`
	ClientID    string    `json:"client_id"`
	RedirectURI string    `json:"redirect_uri"`
	SessionID   string    `json:"session_id"`
	Identity    Identity  `json:"identity"`
	AuthTime    time.Time `json:"auth_time"`
	// TokenID names the access token that redeeming the code hands out. The
	// token is stored when the code is issued, so that redemption writes
	// nothing but the spent mark and a replay can revoke it with one delete.
	TokenID   string    `json:"token_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Store errors.
var (
	// ErrNotFound: no such record, or it has expired.
	ErrNotFound = errors.New("idp: not found")
	// ErrAlreadyUsed: a single-use record (a code) was taken before. The
	// store returns the spent record with it so the caller can revoke what
	// was issued from it.
	ErrAlreadyUsed = errors.New("idp: already used")
	// ErrStoreUnavailable wraps failures of the store itself.
	ErrStoreUnavailable = errors.New("idp: store unavailable")
)

// SessionStore keeps SSO sessions.
type SessionStore interface {
	PutSession(ctx context.Context, s Session) error
	// GetSession returns ErrNotFound for unknown and expired sessions.
	GetSession(ctx context.Context, id string) (Session, error)
	DeleteSession(ctx context.Context, id string) error
}

// FlowStore keeps pending Flows.
type FlowStore interface {
	PutFlow(ctx context.Context, f Flow) error
	// GetFlow reads a Flow without consuming it (to render the login page).
	GetFlow(ctx context.Context, id string) (Flow, error)
	// TakeFlow atomically returns and removes a Flow: of two concurrent takes
	// exactly one succeeds, the other gets ErrNotFound.
	TakeFlow(ctx context.Context, id string) (Flow, error)
	// ConsumeFlow is TakeFlow for a caller that has already read the Flow
	// with GetFlow: it removes the Flow, atomically, without reading it
	// again (Flows are never rewritten). Of two concurrent consumes or
	// takes exactly one succeeds, the other gets ErrNotFound.
	ConsumeFlow(ctx context.Context, id string) error
}

// CodeStore keeps one-time authorization codes.
type CodeStore interface {
	PutCode(ctx context.Context, c Code) error
	// TakeCode atomically consumes a code. A second take of the same code,
	// while the record would not yet have expired, returns the spent Code
	// with ErrAlreadyUsed; an unknown or expired code returns ErrNotFound.
	TakeCode(ctx context.Context, id string) (Code, error)
	// GetCode reads a live code without consuming it; a spent, unknown or
	// expired code returns ErrNotFound. Only TakeCode decides who redeems.
	GetCode(ctx context.Context, id string) (Code, error)
}

// ReplayGuard remembers single-use identifiers (SAML request IDs, nonces).
type ReplayGuard interface {
	// FirstUse records id until expiresAt and reports true the first time it
	// is seen, false for every later call before expiresAt. Atomic.
	FirstUse(ctx context.Context, namespace, id string, expiresAt time.Time) (bool, error)
}

// Store is everything a single backend provides.
type Store interface {
	SessionStore
	FlowStore
	CodeStore
	TokenStore
	ReplayGuard
	// Check reports whether the store can serve (for /readyz).
	Check(ctx context.Context) error
	Close() error
}

// Token is an opaque OAuth access token issued from a Code. ID is the token
// as sent to the SP; backends store a hash of it. Identity may be left
// empty when userinfo reads it from the session (oauthsso does); userinfo
// never waits on LDAP.
type Token struct {
	ID        string    `json:"id"`
	ClientID  string    `json:"client_id"`
	SessionID string    `json:"session_id"`
	Identity  Identity  `json:"identity"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// TokenStore keeps access tokens. Revocation is deletion.
type TokenStore interface {
	PutToken(ctx context.Context, t Token) error
	// GetToken returns ErrNotFound for unknown, revoked and expired tokens.
	GetToken(ctx context.Context, id string) (Token, error)
	// RevokeToken deletes a token; revoking an unknown token is not an error.
	RevokeToken(ctx context.Context, id string) error
}
