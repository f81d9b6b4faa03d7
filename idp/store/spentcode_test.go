package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/memory"
)

// shrinkSizes is a memory backend that records the sizes its tombstones
// shrink from and to.
type shrinkSizes struct {
	*memory.Backend
	from, to int
}

func (s *shrinkSizes) ConsumeShrink(ctx context.Context, bucket string, key []byte, keep time.Duration, shrink func([]byte) []byte) ([]byte, bool, error) {
	return s.Backend.ConsumeShrink(ctx, bucket, key, keep, func(v []byte) []byte {
		small := shrink(v)
		s.from, s.to = len(v), len(small)
		return small
	})
}

// TestSpentCodeTombstone: the first take of a code gets all of it; the
// tombstone a Shrinker keeps (here behind Split, as codes are with the bolt
// store) is resealed with only what a replay needs, a fraction of the
// record, and a replay still names the client and the token to revoke.
func TestSpentCodeTombstone(t *testing.T) {
	fast := &shrinkSizes{Backend: memory.New(memory.WithSweepInterval(-1))}
	st := store.New(store.Split(memory.New(memory.WithSweepInterval(-1)), fast, store.ShortLivedBuckets...))
	defer st.Close()
	ctx := context.Background()
	now := time.Now()
	code := idp.Code{ID: idp.NewID(nil), ClientID: "wp-client", RedirectURI: "https://acme.ncpworkplace.com/authn/oauth/callback",
		SessionID: idp.NewID(nil), AuthTime: now, TokenID: idp.NewID(nil), ExpiresAt: now.Add(time.Minute)}
	if err := st.PutCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	got, err := st.TakeCode(ctx, code.ID)
	if err != nil || got.RedirectURI != code.RedirectURI || got.SessionID != code.SessionID || got.TokenID != code.TokenID {
		t.Fatalf("first take = %+v, %v; want the whole code", got, err)
	}
	if fast.to == 0 || fast.to*10 > fast.from*7 {
		t.Errorf("tombstone %d bytes from a %d-byte record, want under 70 %%", fast.to, fast.from)
	}
	again, err := st.TakeCode(ctx, code.ID)
	if !errors.Is(err, idp.ErrAlreadyUsed) {
		t.Fatalf("replay: %v, want ErrAlreadyUsed", err)
	}
	if again.TokenID != code.TokenID || again.ClientID != code.ClientID || again.ID != code.ID {
		t.Errorf("replay = %+v, want the client and token of %+v", again, code)
	}
	if again.RedirectURI != "" || again.SessionID != "" {
		t.Errorf("replay = %+v: the tombstone kept more than a replay needs", again)
	}
}
