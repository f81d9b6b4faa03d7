package idp

import (
	"context"
	"time"
)

// AuditResult is the outcome of a sign-in attempt.
type AuditResult string

// Sign-in outcomes.
const (
	// AuditSuccess: the user signed in (with a password, or through a live
	// SSO session for another SP).
	AuditSuccess AuditResult = "success"
	// AuditFailure: wrong password, unknown user, or an attempt refused
	// before the directory was asked (throttled, missing fields).
	AuditFailure AuditResult = "failure"
	// AuditDenied: the directory knows the user but will not let them sign
	// in (an AccountState: not permitted, disabled, expired, ...).
	AuditDenied AuditResult = "denied"
	// AuditError: the directory or the store could not answer.
	AuditError AuditResult = "error"
)

// Reasons that are not an AccountState. Together with the AccountState
// values they are the only values of AuditEvent.Reason, so that metrics can
// use them as labels.
const (
	ReasonPassword             = "password"              // success with the form
	ReasonPasswordAPI          = "password_api"          // success through an SP's login API (mail clients)
	ReasonSSOSession           = "sso_session"           // success through a live session
	ReasonInvalidCredentials   = "invalid_credentials"   // wrong password or unknown user
	ReasonThrottled            = "throttled"             // too many attempts
	ReasonDirectoryUnavailable = "directory_unavailable" // LDAP outage
	ReasonInternal             = "internal"              // the store failed
)

// AuditEvent is one sign-in outcome, kept for the admin page and written to
// the SIEM log. It never holds a password, session ID, code or token.
type AuditEvent struct {
	Time time.Time `json:"time"`
	// RequestID is the reference shown on the employee's page.
	RequestID string `json:"request_id,omitempty"`
	// User is the directory username when the directory answered for the
	// user, otherwise the name as typed.
	User string `json:"user"`
	// Login is the name as typed, when it differs from User
	// ("EXAMPLE\alice" for User "alice").
	Login string `json:"login,omitempty"`
	// Subject is the stable directory ID, when known.
	Subject string `json:"sub,omitempty"`
	// SP is the client ID or SP entity ID, empty for a bare /login.
	SP string `json:"sp,omitempty"`
	// Mode is the Flow's protocol ("oauth", "saml"), empty for a bare /login.
	Mode   string      `json:"mode,omitempty"`
	Result AuditResult `json:"result"`
	// Reason is an AccountState or one of the Reason constants.
	Reason    string `json:"reason"`
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
}

// AuditQuery selects audit events, newest first.
type AuditQuery struct {
	// User, when set, selects the events whose User or Login equals it
	// (case-insensitively).
	User string
	// Before is the newest time of interest (exclusive); zero means now.
	Before time.Time
	// Limit caps the number of events; zero or less means 100.
	Limit int
}

// AuditStore keeps sign-in events for a retention period. A Store may
// implement it; consumers look for it with a type assertion.
type AuditStore interface {
	// PutAudit records the events (a batch is written together where
	// the store can); each is kept until its Time plus the store's
	// retention.
	PutAudit(ctx context.Context, events ...AuditEvent) error
	// ListAudit returns the live events that match q, newest first.
	ListAudit(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
}
