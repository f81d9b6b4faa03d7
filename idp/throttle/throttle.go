package throttle

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
)

// Bucket is the store bucket the throttle keeps its records in.
const Bucket = "throttle"

// KeyBucket holds the key that signs familiar-browser cookies. It is not
// among the short-lived buckets: in the bolt file (or Redis) it outlives
// restarts and is shared by replicas, so a browser stays familiar.
const KeyBucket = "throttle_key"

// Scopes, as reported in idp.ThrottledError.Scope.
const (
	ScopeAccount = "account"
	ScopeIP      = "ip"
	// ScopeEntry is the directory entry the typed name resolved to.
	ScopeEntry = "entry"
)

// Throttle implements idp.LoginThrottle on a store.Backend.
type Throttle struct {
	b         store.Backend
	cfg       Config
	normalize func(string) string
	now       func() time.Time
	log       *slog.Logger

	keyMu sync.Mutex
	key   []byte // familiar-browser cookie key, loaded on first use
}

var (
	_ idp.LoginThrottle    = (*Throttle)(nil)
	_ idp.EntryThrottle    = (*Throttle)(nil)
	_ idp.FamiliarBrowsers = (*Throttle)(nil)
)

// Option changes a Throttle built by New.
type Option func(*Throttle)

// WithNormalizer sets how a typed username becomes the account key, e.g.
// (*ldapauth.Authenticator).NormalizeUsername. Default: trimmed, lower case.
func WithNormalizer(f func(string) string) Option { return func(t *Throttle) { t.normalize = f } }

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option { return func(t *Throttle) { t.now = now } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(t *Throttle) { t.log = l } }

// New returns a Throttle keeping its state in b. cfg is defaulted and
// validated.
func New(b store.Backend, cfg Config, opts ...Option) (*Throttle, error) {
	cfg.SetDefaults()
	if err := cfg.Validate().Err(); err != nil {
		return nil, fmt.Errorf("throttle: %w", err)
	}
	t := &Throttle{b: b, cfg: cfg, now: time.Now, log: slog.New(slog.DiscardHandler),
		normalize: func(s string) string { return strings.ToLower(strings.TrimSpace(s)) }}
	for _, o := range opts {
		o(t)
	}
	return t, nil
}

// scope is one limit applied to one attempt.
type scope struct {
	name  string
	key   string // hashed
	limit int
	// filled by reserve:
	window string // window ID
	slot   []byte // the slot this attempt holds
	// failures reports whether the window had recorded a failure when the
	// slot was taken: then a success resets it.
	failures bool
	// created reports that this attempt created the window: a success
	// removes it again, so that an account that only ever signs in right
	// keeps no record between logins.
	created bool
}

// Begin implements idp.LoginThrottle.
//
// The account scope reserves the attempt (parallel attempts cannot overtake
// it: that is what keeps AD's lockout out of reach). The IP scope only
// counts failures, in fixed windows, and never attempts in flight: a whole
// office behind one NAT address signs in at 08:55 through the same IP, and
// its successful logins must never be refused because many are in flight.
func (t *Throttle) Begin(ctx context.Context, username, clientIP string) (func(idp.LoginOutcome), error) {
	var ipKey []byte
	var ipEnd time.Time
	if clientIP != "" {
		ipKey, ipEnd = t.ipWindow(clientIP)
		n, err := t.count(ctx, string(ipKey))
		if err != nil {
			return nil, fmt.Errorf("throttle: %w", err)
		}
		if n >= int64(t.cfg.MaxFailuresPerIP) {
			return nil, &idp.ThrottledError{RetryAfter: max(ipEnd.Sub(t.now()), time.Second), Scope: ScopeIP}
		}
	}
	done, err := t.begin(ctx, []*scope{{name: ScopeAccount, key: hashKey(ScopeAccount, t.normalize(username)), limit: t.cfg.MaxFailuresPerAccount}})
	if err != nil || ipKey == nil {
		return done, err
	}
	return func(o idp.LoginOutcome) {
		done(o)
		if o == idp.LoginFailed {
			_, err := t.b.Incr(context.WithoutCancel(ctx), Bucket, ipKey, ipEnd)
			t.logErr(&scope{name: ScopeIP}, err)
		}
	}, nil
}

// ipWindow returns the failure counter key of clientIP's current fixed
// window and the window's end.
func (t *Throttle) ipWindow(clientIP string) ([]byte, time.Time) {
	w := t.cfg.Window
	idx := t.now().UnixNano() / int64(w)
	end := time.Unix(0, (idx+1)*int64(w))
	return []byte("ipf|" + hashKey(ScopeIP, clientIP) + "|" + strconv.FormatInt(idx, 10)), end
}

// BeginEntry implements idp.EntryThrottle: the entry is limited like an
// account (MaxFailuresPerAccount per sliding Window, reset by a success),
// under its own key, whichever name reached it.
func (t *Throttle) BeginEntry(ctx context.Context, entryKey string) (func(idp.LoginOutcome), error) {
	if entryKey == "" {
		return nil, errors.New("throttle: empty entry key")
	}
	return t.begin(ctx, []*scope{{name: ScopeEntry, key: hashKey(ScopeEntry, entryKey), limit: t.cfg.MaxFailuresPerAccount}})
}

// begin reserves an attempt in every scope, or in none.
func (t *Throttle) begin(ctx context.Context, scopes []*scope) (func(idp.LoginOutcome), error) {
	var reserved []*scope
	release := func() {
		for _, s := range reserved {
			t.giveBack(context.WithoutCancel(ctx), s)
		}
	}
	for _, s := range scopes {
		blocked, retry, err := t.reserve(ctx, s)
		if err != nil {
			release()
			return nil, fmt.Errorf("throttle: %w", err)
		}
		if blocked {
			release()
			return nil, &idp.ThrottledError{RetryAfter: retry, Scope: s.name}
		}
		reserved = append(reserved, s)
	}
	done := false
	return func(o idp.LoginOutcome) {
		if done {
			return
		}
		done = true
		ctx := context.WithoutCancel(ctx)
		for _, s := range reserved {
			switch o {
			case idp.LoginFailed:
				t.failed(ctx, s)
			case idp.LoginSucceeded:
				t.giveBack(ctx, s)
				// A right password starts the account afresh. A window
				// without failures that another attempt created has
				// nothing to forget (and saves a store write).
				if s.failures || s.created {
					t.logErr(s, t.b.Delete(ctx, Bucket, windowKey(s.key)))
				}
			default:
				t.giveBack(ctx, s)
			}
		}
	}, nil
}

// slots is how many of s's limit an attempt may take: all of them from a
// familiar browser (idp.WithFamiliarBrowser), the limit less the
// FamiliarBrowserFailures kept for those from any other. Someone else's
// wrong passwords can then spend only the others, and the employee's own
// browser still has its attempts, while the directory never sees more
// than the limit.
func (t *Throttle) slots(ctx context.Context, s *scope) int {
	if idp.IsFamiliarBrowser(ctx) {
		return s.limit
	}
	return max(1, s.limit-t.cfg.familiarKept())
}

// FamiliarToken implements idp.FamiliarBrowsers: "1.<unix time>.<MAC>",
// the MAC over the time and the name's account key with a key kept in
// KeyBucket.
func (t *Throttle) FamiliarToken(ctx context.Context, username string) (string, error) {
	issued := t.now().Unix()
	mac, err := t.familiarMAC(ctx, username, issued)
	if err != nil {
		return "", fmt.Errorf("throttle: %w", err)
	}
	return "1." + strconv.FormatInt(issued, 10) + "." + base64.RawURLEncoding.EncodeToString(mac), nil
}

// IsFamiliar implements idp.FamiliarBrowsers.
func (t *Throttle) IsFamiliar(ctx context.Context, username, token string) bool {
	ver, rest, ok := strings.Cut(token, ".")
	ts, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || ver != "1" || len(token) > 128 {
		return false
	}
	issued, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	age := t.now().Sub(time.Unix(issued, 0))
	if age > idp.FamiliarBrowserLifetime || age < -5*time.Minute {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return false
	}
	want, err := t.familiarMAC(ctx, username, issued)
	return err == nil && hmac.Equal(got, want)
}

func (t *Throttle) familiarMAC(ctx context.Context, username string, issued int64) ([]byte, error) {
	key, err := t.familiarKey(ctx)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("familiar\x00" + strconv.FormatInt(issued, 10) + "\x00" + hashKey(ScopeAccount, t.normalize(username))))
	return m.Sum(nil), nil
}

// familiarKey loads the cookie key from KeyBucket, making it on first
// use (PutIfAbsent, so replicas that start together agree on one).
func (t *Throttle) familiarKey(ctx context.Context) ([]byte, error) {
	t.keyMu.Lock()
	defer t.keyMu.Unlock()
	if t.key != nil {
		return t.key, nil
	}
	var fresh [32]byte
	if _, err := rand.Read(fresh[:]); err != nil {
		return nil, err
	}
	name := []byte("familiar-v1")
	if _, err := t.b.PutIfAbsent(ctx, KeyBucket, name, fresh[:], t.now().Add(10*365*24*time.Hour)); err != nil {
		return nil, err
	}
	v, err := t.b.Get(ctx, KeyBucket, name)
	if err != nil {
		return nil, err
	}
	if len(v) != len(fresh) {
		return nil, fmt.Errorf("familiar-browser key in %s has %d bytes", KeyBucket, len(v))
	}
	t.key = bytes.Clone(v)
	return t.key, nil
}

// reserve takes one of the limit's slots in s's current window: slot i is
// held by an attempt in flight or by a failure (until the window ends), and
// each slot is taken with one atomic PutIfAbsent, so concurrent attempts
// can never hold more than limit slots together, whatever order the store
// serves them in. When every slot is held the attempt is blocked, with the
// time until the window ends.
func (t *Throttle) reserve(ctx context.Context, s *scope) (blocked bool, retry time.Duration, err error) {
	id, last, created, err := t.window(ctx, s.key)
	if err != nil {
		return false, 0, err
	}
	s.window, s.failures, s.created = id, !last.IsZero(), created
	if s.slot, err = t.takeSlot(ctx, s.key, id, t.slots(ctx, s)); err != nil || s.slot != nil {
		return false, 0, err
	}
	retry = t.cfg.Window
	if !last.IsZero() {
		retry = last.Add(t.cfg.Window).Sub(t.now())
	}
	return true, max(retry, time.Second), nil
}

// window returns the scope's current window ID, the time of its last
// failure (zero when none yet) and whether this call created the window
// (when there was none).
func (t *Throttle) window(ctx context.Context, key string) (id string, last time.Time, created bool, err error) {
	wkey := windowKey(key)
	for range 3 {
		v, err := t.b.Get(ctx, Bucket, wkey)
		if err == nil {
			id, last, err := parseWindow(v)
			return id, last, false, err
		}
		if !errors.Is(err, idp.ErrNotFound) {
			return "", time.Time{}, false, err
		}
		id, err := newWindowID()
		if err != nil {
			return "", time.Time{}, false, err
		}
		ok, err := t.b.PutIfAbsent(ctx, Bucket, wkey, []byte(id+"|0"), t.now().Add(t.cfg.Window))
		if err != nil {
			return "", time.Time{}, false, err
		}
		if ok {
			return id, time.Time{}, true, nil
		}
		// Another attempt created it first: read theirs.
	}
	// Windows keep being created and removed under this attempt: other
	// attempts keep succeeding, and each success starts the account
	// afresh. So does this attempt, in a window of its own, not stored
	// unless it fails.
	id, err = newWindowID()
	return id, time.Time{}, false, err
}

func newWindowID() (string, error) {
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(rnd[:]), nil
}

func parseWindow(v []byte) (string, time.Time, error) {
	id, ts, ok := strings.Cut(string(v), "|")
	n, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil || id == "" {
		return "", time.Time{}, fmt.Errorf("throttle: corrupt window record %q", v)
	}
	if n == 0 {
		return id, time.Time{}, nil
	}
	return id, time.Unix(0, n), nil
}

// failed keeps the attempt's reservation and slides the window to end
// Window after this failure. When a right password ended the attempt's
// window while it was in flight (and other attempts may have started
// another), the failure belongs to the window now current: the directory
// saw this wrong password after that success, and so must the count. It
// then takes a free slot there, and the old window is not brought back
// (that would forget the current window's failures).
func (t *Throttle) failed(ctx context.Context, s *scope) {
	now := t.now()
	id := s.window
	v, err := t.b.Get(ctx, Bucket, windowKey(s.key))
	switch {
	case err == nil:
		if cur, _, perr := parseWindow(v); perr == nil && cur != s.window {
			id = cur
			_, err := t.takeSlot(ctx, s.key, cur, s.limit)
			t.logErr(s, err)
		}
	case errors.Is(err, idp.ErrNotFound):
		// No window now: a success removed it and none has started since
		// (or it was never stored): this failure starts the next one.
		if id, err = newWindowID(); err != nil {
			t.logErr(s, err)
			return
		}
		_, err := t.takeSlot(ctx, s.key, id, s.limit)
		t.logErr(s, err)
	default:
		t.logErr(s, err)
	}
	w := []byte(id + "|" + strconv.FormatInt(now.UnixNano(), 10))
	t.logErr(s, t.b.Put(ctx, Bucket, windowKey(s.key), w, now.Add(t.cfg.Window)))
}

// takeSlot takes the first free one of slots 1..n of the window id of
// key, each with one atomic PutIfAbsent, and returns its store key; nil
// when all n are held.
func (t *Throttle) takeSlot(ctx context.Context, key, id string, n int) ([]byte, error) {
	exp := t.now().Add(t.horizon())
	for i := 1; i <= n; i++ {
		k := []byte("s|" + key + "|" + id + "|" + strconv.Itoa(i))
		ok, err := t.b.PutIfAbsent(ctx, Bucket, k, []byte{'1'}, exp)
		if err != nil {
			return nil, err
		}
		if ok {
			return k, nil
		}
	}
	return nil, nil
}

// giveBack frees the slot of an attempt that was not a failure.
func (t *Throttle) giveBack(ctx context.Context, s *scope) {
	if s.slot != nil {
		t.logErr(s, t.b.Delete(ctx, Bucket, s.slot))
	}
}

func (t *Throttle) count(ctx context.Context, key string) (int64, error) {
	v, err := t.b.Get(ctx, Bucket, []byte(key))
	if errors.Is(err, idp.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(v), 10, 64)
}

// horizon bounds a window's counters: a window lives at most one Window
// per failure it admits, plus one.
func (t *Throttle) horizon() time.Duration {
	return time.Duration(t.cfg.MaxFailuresPerAccount+2) * t.cfg.Window
}

func (t *Throttle) logErr(s *scope, err error) {
	if err != nil {
		t.log.Error("throttle store failed", "event", "throttle_store_failed", "scope", s.name, "err", err)
	}
}

// hashKey keeps names and addresses out of the store.
func hashKey(scope, v string) string {
	h := sha256.Sum256([]byte(scope + "\x00" + v))
	return hex.EncodeToString(h[:16])
}

// windowKey is the store key of the window of the account (or address)
// key.
func windowKey(key string) []byte { return []byte("w|" + key) }
