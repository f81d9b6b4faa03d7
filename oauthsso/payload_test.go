package oauthsso

import (
	"encoding/json"
	"testing"
)

func TestFlowPayloadForms(t *testing.T) {
	for _, pl := range []flowPayload{
		{ClientID: "wp", RedirectURI: "https://acme.ncpworkplace.com/oauth/callback?x=1&y=%20", State: "st-1"},
		{ClientID: "nw", RedirectURI: "https://auth.worksmobile.com/cb"},
		{},
	} {
		got, err := parsePayload(pl.marshal())
		if err != nil || got != pl {
			t.Errorf("binary round trip of %+v: %+v, %v", pl, got, err)
		}
		old, _ := json.Marshal(pl)
		if got, err := parsePayload(old); err != nil || got != pl {
			t.Errorf("JSON parked by an earlier version, %s: %+v, %v", old, got, err)
		}
		b := pl.marshal()
		for i := range len(b) {
			if _, err := parsePayload(b[:i]); err == nil {
				t.Errorf("payload cut to %d of %d bytes read without error", i, len(b))
			}
		}
		if _, err := parsePayload(append(b, 'x')); err == nil {
			t.Error("trailing byte accepted")
		}
	}
}
