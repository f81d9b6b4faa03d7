package store

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ncp-sso/idp/idp"
)

// Audit events live in their own bucket, built from the Backend primitives
// alone (no range scans), so every backend keeps them:
//
//	c|day             Incr counter: events of that UTC day (1, 2, ...)
//	e|day|n           event n of the day (JSON)
//	d|day|user        Incr counter: events of that day for one user
//	d|day|user|k      event k of the day for that user: the key of its
//	                  e record
//	f|day|user|k      the same, as written before 2026-11-23 (the
//	                  first of those a JSON copy of the event); read
//	                  when the d form is missing, until they expire
//
// A user's index entries sort right after that user's counter, so an
// event dirties one page of the user index rather than two: the user
// hashes are random, and each page written is a write and part of the
// commit's sync (storage pages per SAML sign-in at 64 browsers went from
// 2.9 to 2.45).
//
// "user" is a hash of the lower-cased name, so typed names of any length
// and alphabet make fixed-size keys. Events expire at their time plus the
// retention; a day's counters at the end of the day plus the retention, so
// a counter never restarts while an event numbered from it is alive. A
// query walks the days of the retention window newest first, reading each
// day's counter and then its events from the highest number down. Events
// are not sealed: they are an audit trail for the admins, not secrets; they
// hold no password, session ID, code or token.

// BucketAudit holds the audit events of idp.AuditStore.
const BucketAudit = "audit"

// DefaultAuditRetention is how long audit events are kept unless
// WithAuditRetention says otherwise: 30 days.
const DefaultAuditRetention = 720 * time.Hour

// Query bounds.
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
	// pendingWrites is how many of a day's newest numbers may be taken
	// (Incr done) but not yet written (Put pending) by concurrent logins.
	// Below them, a missing event means the older ones have expired too.
	// With an Updater (bolt) a batch is one transaction, so none are;
	// a backend without (Redis) has up to auditWriters events of one
	// instance between their Incr and their Put (idp/audit runs one
	// writer per instance), so this allows for many instances.
	pendingWrites = 1024
)

const labelAuditUser = "idp/store/v1/audit-user\x00"

var _ idp.AuditStore = (*typed)(nil)

// WithAuditRetention sets how long audit events are kept (default
// DefaultAuditRetention). Values below one minute are raised to one minute.
func WithAuditRetention(d time.Duration) Option {
	return func(s *typed) { s.auditRetention = max(d, time.Minute) }
}

func auditDay(t time.Time) string { return t.UTC().Format("20060102") }

func auditUserHash(user string) []byte {
	h := sha256.Sum256([]byte(labelAuditUser + strings.ToLower(strings.TrimSpace(user))))
	return h[:16]
}

func auditKey(kind byte, parts ...[]byte) []byte {
	k := []byte{kind}
	for _, p := range parts {
		k = append(k, '|')
		k = append(k, p...)
	}
	return k
}

func seqBytes(n int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	return b[:]
}

// PutAudit records each event under its day and under each distinct name
// it carries (User and Login). With a backend that is an Updater (bolt)
// the whole batch is one transaction, so a batch of sign-ins shares its
// index pages and one commit. Otherwise (Redis) each event is several
// backend calls in a row, a crash between them losing at most that event
// from one of the indexes, and up to auditWriters events are written at
// once, so that a batch costs a few round trips' time rather than four
// per event. An event with a zero time refuses the batch before anything
// is written.
func (s *typed) PutAudit(ctx context.Context, events ...idp.AuditEvent) error {
	recs := make([]auditRecord, 0, len(events))
	for _, e := range events {
		r, err := s.auditRecord(e)
		if err != nil {
			return fmt.Errorf("store: put audit: %w", err)
		}
		recs = append(recs, r)
	}
	var err error
	if _, ok := holder(s.b, BucketAudit).(Updater); ok || len(recs) == 1 {
		err = update(ctx, s.b, BucketAudit, func(tx Tx) error {
			for _, r := range recs {
				if err := r.put(tx); err != nil {
					return err
				}
			}
			return nil
		})
	} else {
		err = s.putAuditConcurrently(ctx, recs)
	}
	if err != nil {
		return fmt.Errorf("store: put audit: %w", err)
	}
	return nil
}

// auditWriters bounds the events a backend without transactions is
// writing at once.
const auditWriters = 16

// putAuditConcurrently writes each record on its own, up to auditWriters
// at a time, and returns the first error (every record is attempted).
func (s *typed) putAuditConcurrently(ctx context.Context, recs []auditRecord) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	slots := make(chan struct{}, auditWriters)
	for _, r := range recs {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := update(ctx, s.b, BucketAudit, r.put); err != nil {
				mu.Lock()
				first = cmp.Or(first, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

// auditRecord is one event ready to write: its JSON, its day, its expiries
// and the hashes of the names it is indexed under.
type auditRecord struct {
	json        []byte
	day         []byte
	ctrExp, exp time.Time
	users       [][]byte
}

func (s *typed) auditRecord(e idp.AuditEvent) (auditRecord, error) {
	if e.Time.IsZero() {
		return auditRecord{}, fmt.Errorf("%w: zero time", ErrInvalid)
	}
	v, err := json.Marshal(e)
	if err != nil {
		return auditRecord{}, fmt.Errorf("encode: %w", err)
	}
	y, m, d := e.Time.UTC().Date()
	dayEnd := time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
	r := auditRecord{json: v, day: []byte(auditDay(e.Time)), ctrExp: dayEnd.Add(s.auditRetention), exp: e.Time.Add(s.auditRetention)}
	names := []string{e.User}
	if e.Login != "" && !strings.EqualFold(e.Login, e.User) {
		names = append(names, e.Login)
	}
	for _, name := range names {
		if strings.TrimSpace(name) != "" {
			r.users = append(r.users, auditUserHash(name))
		}
	}
	return r, nil
}

// put numbers the event in its day and writes it and its name indexes.
func (r auditRecord) put(tx Tx) error {
	n, err := tx.Incr(auditKey('c', r.day), r.ctrExp)
	if err != nil {
		return err
	}
	eventKey := auditKey('e', r.day, seqBytes(n))
	if err := tx.Put(eventKey, r.json, r.exp); err != nil {
		return err
	}
	for _, u := range r.users {
		k, err := tx.Incr(auditKey('d', r.day, u), r.ctrExp)
		if err != nil {
			return err
		}
		if err := tx.Put(auditKey('d', r.day, u, seqBytes(k)), eventKey, r.exp); err != nil {
			return err
		}
	}
	return nil
}

// ListAudit returns the live events matching q, newest first.
func (s *typed) ListAudit(ctx context.Context, q idp.AuditQuery) ([]idp.AuditEvent, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = defaultAuditLimit
	}
	limit = min(limit, maxAuditLimit)
	before := q.Before
	if before.IsZero() {
		before = time.Now()
	}
	var user []byte
	if strings.TrimSpace(q.User) != "" {
		user = auditUserHash(q.User)
	}
	oldest := auditDay(before.Add(-s.auditRetention))
	var out []idp.AuditEvent
	for day := before.UTC(); len(out) < limit; day = day.AddDate(0, 0, -1) {
		ds := auditDay(day)
		if ds < oldest {
			break
		}
		got, err := s.auditDay(ctx, []byte(ds), user, before, limit-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	return out, nil
}

// auditDay reads up to limit events of one day (of one user when user is
// set) older than before, newest first.
func (s *typed) auditDay(ctx context.Context, day, user []byte, before time.Time, limit int) ([]idp.AuditEvent, error) {
	ctrKey, kind, prefix := auditKey('c', day), byte('e'), [][]byte{day}
	if user != nil {
		ctrKey, kind, prefix = auditKey('d', day, user), 'd', [][]byte{day, user}
	}
	raw, err := s.b.Get(ctx, BucketAudit, ctrKey)
	if errors.Is(err, idp.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: list audit: %w", err)
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("store: list audit: %w: counter value", ErrCorrupt)
	}
	var out []idp.AuditEvent
	for i := n; i >= 1 && len(out) < limit; i-- {
		v, err := s.b.Get(ctx, BucketAudit, auditKey(kind, append(prefix, seqBytes(i))...))
		if errors.Is(err, idp.ErrNotFound) && user != nil {
			v, err = s.b.Get(ctx, BucketAudit, auditKey('f', append(prefix, seqBytes(i))...))
		}
		if err == nil && user != nil && len(v) > 0 && v[0] == 'e' {
			// A user's index entry names the day's event record.
			v, err = s.b.Get(ctx, BucketAudit, v)
		}
		if errors.Is(err, idp.ErrNotFound) {
			if i <= n-pendingWrites {
				break // expired, and so is everything older of this day
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("store: list audit: %w", err)
		}
		var e idp.AuditEvent
		if err := json.Unmarshal(v, &e); err != nil {
			return nil, fmt.Errorf("%w: audit record: %w", ErrCorrupt, err)
		}
		if e.Time.Before(before) {
			out = append(out, e)
		}
	}
	return out, nil
}
