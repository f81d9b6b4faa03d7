package boltstore

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/ncp-sso/idp/idp/store"
)

// On disk every value is
//
//	expiry   8 bytes  big-endian Unix nanoseconds; the record is live while now < expiry
//	flags    1 byte   flagConsumed marks a tombstone left by Consume; other bits zero
//	payload  the rest
//
// Keeping the expiry in the value lets every read enforce it without a
// second lookup, and lets the sweeper decide from the value alone.
const (
	headerLen    = 9
	flagConsumed = 1 << 0
)

var errBadRecord = fmt.Errorf("boltstore: %w: value shorter than its header", store.ErrCorrupt)

// unixNano converts t, clamped to the range int64 nanoseconds can hold
// (years 1678 to 2262), so far-future expiries do not wrap around.
func unixNano(t time.Time) int64 {
	const maxSec = math.MaxInt64/int64(time.Second) - 1
	switch s := t.Unix(); {
	case s >= maxSec:
		return math.MaxInt64
	case s <= -maxSec:
		return math.MinInt64
	}
	return t.UnixNano()
}

func encode(exp int64, flags byte, payload []byte) []byte {
	v := make([]byte, headerLen+len(payload))
	binary.BigEndian.PutUint64(v, uint64(exp))
	v[8] = flags
	copy(v[headerLen:], payload)
	return v
}

// record is a decoded value. payload aliases bbolt's memory and is valid
// only inside the transaction that read it.
type record struct {
	exp     int64
	flags   byte
	payload []byte
}

func decode(v []byte) (record, error) {
	if len(v) < headerLen {
		return record{}, errBadRecord
	}
	return record{
		exp:     int64(binary.BigEndian.Uint64(v)),
		flags:   v[8],
		payload: v[headerLen:],
	}, nil
}

func (r record) expired(now int64) bool { return now >= r.exp }
func (r record) consumed() bool         { return r.flags&flagConsumed != 0 }

// addClamped returns exp+d without overflowing.
func addClamped(exp int64, d time.Duration) int64 {
	if exp > math.MaxInt64-int64(d) {
		return math.MaxInt64
	}
	return exp + int64(d)
}
