package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ncp-sso/idp/idp"
)

// Record encoding. Sessions, flows, codes and tokens are written in a small
// binary form: a version byte (recordV1), then the fields in a fixed order,
// strings and byte strings as a uvarint length and the bytes, times as a
// flag byte (0: zero time) then varint Unix seconds and uvarint
// nanoseconds. It is read about five times as fast as the JSON earlier
// versions wrote, and is about a third smaller, which matters for a store
// file that is mapped into memory. Records written by earlier versions
// start with '{' and are still read as JSON.
//
// A field added to one of the types must be added here as well:
// TestRecordCodecCarriesEveryField fails until it is.

const recordV1 = 0x01

// marshalRecord encodes v for the store.
func marshalRecord(v any) ([]byte, error) {
	e := recEncoder{b: make([]byte, 1, 512)}
	e.b[0] = recordV1
	switch r := v.(type) {
	case idp.Session:
		e.str(r.ID)
		e.identity(&r.Identity)
		e.time(r.AuthTime)
		e.time(r.ExpiresAt)
		e.str(r.ClientIP)
		e.str(r.UserAgent)
	case idp.Flow:
		e.str(r.ID)
		e.str(r.Protocol)
		e.str(r.SP)
		e.str(r.SPName)
		e.str(r.LoginHint)
		e.bool(r.ForceAuthn)
		e.bytes(r.Payload)
		e.time(r.CreatedAt)
		e.time(r.ExpiresAt)
	case idp.Code:
		e.str(r.ID)
		e.str(r.ClientID)
		e.str(r.RedirectURI)
		e.str(r.SessionID)
		e.identity(&r.Identity)
		e.time(r.AuthTime)
		e.str(r.TokenID)
		e.time(r.ExpiresAt)
	case idp.Token:
		e.str(r.ID)
		e.str(r.ClientID)
		e.str(r.SessionID)
		e.identity(&r.Identity)
		e.time(r.IssuedAt)
		e.time(r.ExpiresAt)
	default:
		return nil, fmt.Errorf("no record encoding for %T", v)
	}
	return e.b, nil
}

// unmarshalRecord decodes a record written by marshalRecord, or by an
// earlier version (JSON), into v.
func unmarshalRecord(pt []byte, v any) error {
	if len(pt) == 0 || pt[0] != recordV1 {
		return json.Unmarshal(pt, v)
	}
	d := recDecoder{b: pt[1:]}
	switch r := v.(type) {
	case *idp.Session:
		r.ID = d.str()
		d.identity(&r.Identity)
		r.AuthTime = d.time()
		r.ExpiresAt = d.time()
		r.ClientIP = d.str()
		r.UserAgent = d.str()
	case *idp.Flow:
		r.ID = d.str()
		r.Protocol = d.str()
		r.SP = d.str()
		r.SPName = d.str()
		r.LoginHint = d.str()
		r.ForceAuthn = d.bool()
		r.Payload = d.bytes()
		r.CreatedAt = d.time()
		r.ExpiresAt = d.time()
	case *idp.Code:
		r.ID = d.str()
		r.ClientID = d.str()
		r.RedirectURI = d.str()
		r.SessionID = d.str()
		d.identity(&r.Identity)
		r.AuthTime = d.time()
		r.TokenID = d.str()
		r.ExpiresAt = d.time()
	case *idp.Token:
		r.ID = d.str()
		r.ClientID = d.str()
		r.SessionID = d.str()
		d.identity(&r.Identity)
		r.IssuedAt = d.time()
		r.ExpiresAt = d.time()
	default:
		return fmt.Errorf("binary record for %T", v)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d bytes after the last field", len(d.b))
	}
	return d.err
}

type recEncoder struct{ b []byte }

func (e *recEncoder) uint(n uint64) { e.b = binary.AppendUvarint(e.b, n) }

func (e *recEncoder) str(s string) {
	e.uint(uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *recEncoder) bytes(p []byte) {
	e.uint(uint64(len(p)))
	e.b = append(e.b, p...)
}

func (e *recEncoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *recEncoder) time(t time.Time) {
	if t.IsZero() {
		e.b = append(e.b, 0)
		return
	}
	e.b = append(e.b, 1)
	e.b = binary.AppendVarint(e.b, t.Unix())
	e.uint(uint64(t.Nanosecond()))
}

func (e *recEncoder) strs(ss []string) {
	e.uint(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}

func (e *recEncoder) identity(id *idp.Identity) {
	e.str(id.Subject)
	e.str(id.Username)
	e.str(id.Email)
	e.str(id.DisplayName)
	e.str(id.DN)
	e.strs(id.Groups)
	e.uint(uint64(len(id.Attributes)))
	for k, vs := range id.Attributes {
		e.str(k)
		e.strs(vs)
	}
}

// recDecoder reads fields in order; the first error sticks and every
// later read returns a zero value.
type recDecoder struct {
	b   []byte
	err error
}

var errShortRecord = errors.New("record ends inside a field")

func (d *recDecoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 {
		d.err = errShortRecord
		return 0
	}
	d.b = d.b[k:]
	return n
}

// take returns the next n bytes of the record.
func (d *recDecoder) take(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errShortRecord
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *recDecoder) str() string { return string(d.take(d.uint())) }

func (d *recDecoder) bytes() []byte {
	p := d.take(d.uint())
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}

func (d *recDecoder) bool() bool {
	p := d.take(1)
	return len(p) == 1 && p[0] == 1
}

func (d *recDecoder) time() time.Time {
	p := d.take(1)
	if len(p) == 0 || p[0] == 0 {
		return time.Time{}
	}
	sec, k := binary.Varint(d.b)
	if k <= 0 {
		d.err = errShortRecord
		return time.Time{}
	}
	d.b = d.b[k:]
	nsec := d.uint()
	if nsec >= uint64(time.Second) {
		d.err = errors.New("time with out-of-range nanoseconds")
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec))
}

// count reads a collection length, which cannot exceed the bytes left (each
// element takes at least one).
func (d *recDecoder) count() int {
	n := d.uint()
	if d.err == nil && (n > uint64(len(d.b)) || n > math.MaxInt32) {
		d.err = errShortRecord
	}
	if d.err != nil {
		return 0
	}
	return int(n)
}

func (d *recDecoder) strs() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.str()
	}
	return ss
}

func (d *recDecoder) identity(id *idp.Identity) {
	id.Subject = d.str()
	id.Username = d.str()
	id.Email = d.str()
	id.DisplayName = d.str()
	id.DN = d.str()
	id.Groups = d.strs()
	n := d.count()
	if n == 0 {
		return
	}
	id.Attributes = make(map[string][]string, n)
	for range n {
		k := d.str()
		id.Attributes[k] = d.strs()
	}
}
