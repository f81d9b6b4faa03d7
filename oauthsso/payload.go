package oauthsso

import (
	"encoding/binary"
	"encoding/json"
	"errors"
)

// The validated login request parked in idp.Flow.Payload is read on each
// step of a login (the login page's form-action, the form post, the
// answer), so it is kept in a small binary form: a version byte, then
// client_id, redirect_uri and state, each a uvarint length and the bytes.
// A payload parked as JSON by an earlier version (it starts with '{') is
// still read.
const payloadV1 = 0x01

func (pl flowPayload) marshal() []byte {
	b := make([]byte, 1, 4+len(pl.ClientID)+len(pl.RedirectURI)+len(pl.State)+3*binary.MaxVarintLen16)
	b[0] = payloadV1
	for _, s := range []string{pl.ClientID, pl.RedirectURI, pl.State} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

var errPayload = errors.New("oauthsso: flow payload unreadable")

func parsePayload(b []byte) (flowPayload, error) {
	var pl flowPayload
	if len(b) > 0 && b[0] == '{' {
		if json.Unmarshal(b, &pl) != nil {
			return flowPayload{}, errPayload
		}
		return pl, nil
	}
	if len(b) == 0 || b[0] != payloadV1 {
		return flowPayload{}, errPayload
	}
	b = b[1:]
	for _, f := range []*string{&pl.ClientID, &pl.RedirectURI, &pl.State} {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return flowPayload{}, errPayload
		}
		*f = string(b[k : k+int(n)])
		b = b[k+int(n):]
	}
	if len(b) != 0 {
		return flowPayload{}, errPayload
	}
	return pl, nil
}
