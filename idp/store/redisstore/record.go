package redisstore

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ncp-sso/idp/idp/store"
)

// A Redis value is one kind byte, the expiry as exactly expiryDigits
// decimal digits of Unix nanoseconds, then the payload:
//
//	v2030010203050000000000<payload>   live record (or counter)
//	t2030010203050000000000<payload>   tombstone left by Consume
//
// Fixed-width decimal keeps the expiry comparable as a string inside Lua,
// whose numbers are doubles and cannot hold nanoseconds since 1970 exactly.
const (
	kindLive     = 'v'
	kindTomb     = 't'
	expiryDigits = 19
	headerLen    = 1 + expiryDigits
)

// stamp is t as the fixed-width expiry field, clamped to what fits.
func stamp(t time.Time) string {
	var n int64
	switch {
	case t.Before(time.Unix(0, 0)):
		n = 0
	case t.After(time.Unix(0, math.MaxInt64)):
		n = math.MaxInt64
	default:
		n = t.UnixNano()
	}
	return fmt.Sprintf("%0*d", expiryDigits, n)
}

// encode builds the Redis value of a live record.
func encode(exp time.Time, payload []byte) []byte {
	out := make([]byte, 0, headerLen+len(payload))
	out = append(out, kindLive)
	out = append(out, stamp(exp)...)
	return append(out, payload...)
}

// decodeLive returns the payload of raw when it is a live record at now,
// ok=false when it is a tombstone or has expired.
func decodeLive(raw []byte, now time.Time) (payload []byte, ok bool, err error) {
	if len(raw) < headerLen {
		return nil, false, fmt.Errorf("%w: redis value too short", store.ErrCorrupt)
	}
	exp, err := strconv.ParseInt(string(raw[1:headerLen]), 10, 64)
	if err != nil {
		return nil, false, fmt.Errorf("%w: redis value expiry", store.ErrCorrupt)
	}
	if raw[0] != kindLive || now.UnixNano() >= exp {
		return nil, false, nil
	}
	return raw[headerLen:], true, nil
}

// ttl is the Redis expiry of a record that ends at exp, rounded up to the
// millisecond so that Redis never drops a record the clock still calls live.
// It is relative to this instance's clock: instances and Redis need not
// agree on the time of day, only on the length of a second.
func ttl(now, exp time.Time) int64 {
	d := exp.Sub(now)
	if d <= 0 {
		return 0
	}
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// The scripts run atomically inside Redis: no other command runs between
// their read and their write, on this or any other idp instance. Each gets
// the caller's clock as ARGV[1] (expiryDigits digits) and compares it with
// the stored expiry as strings of equal length. A value shorter than the
// header is treated as absent and overwritten.

// takeScript returns and deletes a live record; a tombstone stays.
var takeScript = redis.NewScript(`
local r = redis.call('GET', KEYS[1])
if not r or #r < 20 or string.sub(r, 1, 1) ~= 'v' or string.sub(r, 2, 20) <= ARGV[1] then
  return false
end
redis.call('DEL', KEYS[1])
return string.sub(r, 21)
`)

// consumeScript turns a live record into a tombstone that ends keep
// (ARGV[2] seconds + ARGV[3] nanoseconds) after the record would have, and
// returns {1, value} the first time, {0, value} while the tombstone lives.
// The sum is done on seconds and nanoseconds apart so that every number
// stays below 2^53.
var consumeScript = redis.NewScript(`
local r = redis.call('GET', KEYS[1])
if not r or #r < 20 then return false end
local kind, exp = string.sub(r, 1, 1), string.sub(r, 2, 20)
if exp <= ARGV[1] then return false end
if kind == 't' then return {0, string.sub(r, 21)} end
if kind ~= 'v' then return false end
local s = tonumber(string.sub(exp, 1, 10)) + tonumber(ARGV[2])
local ns = tonumber(string.sub(exp, 11, 19)) + tonumber(ARGV[3])
if ns >= 1000000000 then s = s + 1; ns = ns - 1000000000 end
local ts = string.format('%010d%09d', s, ns)
if #ts ~= 19 then ts = '9223372036854775807' end
local nows = tonumber(string.sub(ARGV[1], 1, 10))
local nowns = tonumber(string.sub(ARGV[1], 11, 19))
local ms = math.ceil((s - nows) * 1000 + (ns - nowns) / 1000000)
if ms < 1 then ms = 1 end
redis.call('SET', KEYS[1], 't' .. ts .. string.sub(r, 21), 'PX', ms)
return {1, string.sub(r, 21)}
`)

// putIfAbsentScript stores ARGV[2] for ARGV[3] ms unless a live record
// exists; returns 1 when it stored.
var putIfAbsentScript = redis.NewScript(`
local r = redis.call('GET', KEYS[1])
if r and #r >= 20 and string.sub(r, 1, 1) == 'v' and string.sub(r, 2, 20) > ARGV[1] then
  return 0
end
if tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
else
  redis.call('DEL', KEYS[1])
end
return 1
`)

// incrScript adds one to a live counter, keeping its expiry (KEEPTTL), or
// starts one at 1 that ends at ARGV[2] (ARGV[3] ms from now). A live value
// that is not a decimal counter is an error. Counters stay below 10^15 so
// that Lua's doubles count exactly.
var incrScript = redis.NewScript(`
local r = redis.call('GET', KEYS[1])
if r and #r >= 20 and string.sub(r, 1, 1) == 'v' and string.sub(r, 2, 20) > ARGV[1] then
  local v = string.sub(r, 21)
  if not string.match(v, '^%d+$') or #v > 15 then
    return redis.error_reply('IDP_NOT_COUNTER value is not a counter')
  end
  local n = tonumber(v) + 1
  redis.call('SET', KEYS[1], string.sub(r, 1, 20) .. string.format('%d', n), 'KEEPTTL')
  return n
end
if tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], 'v' .. ARGV[2] .. '1', 'PX', ARGV[3])
else
  redis.call('DEL', KEYS[1])
end
return 1
`)

// sweepScript deletes those of KEYS whose stored expiry has passed and
// returns how many. The check and the delete are one step, so a record
// rewritten since the SCAN saw it is kept.
var sweepScript = redis.NewScript(`
local n = 0
for _, k in ipairs(KEYS) do
  local r = redis.call('GET', k)
  if r and #r >= 20 and string.sub(r, 2, 20) <= ARGV[1] then
    redis.call('DEL', k)
    n = n + 1
  end
end
return n
`)

// errNotCounter is the prefix of incrScript's error reply.
const errNotCounter = "IDP_NOT_COUNTER"
