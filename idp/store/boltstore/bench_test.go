package boltstore_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/boltstore"
)

func benchStore(b *testing.B) idp.Store {
	b.Helper()
	bk, err := boltstore.Open(filepath.Join(b.TempDir(), "idp.db"))
	if err != nil {
		b.Fatal(err)
	}
	s := store.New(bk)
	b.Cleanup(func() { s.Close() })
	return s
}

func benchIdentity() idp.Identity {
	return idp.Identity{
		Subject: "2f1c8b3e-0c1d-4a7e-9d7b-5a4c3b2a1f00", Username: "hong.gildong",
		Email: "hong.gildong@example.co.kr", DisplayName: "홍길동",
		DN:         "uid=hong.gildong,ou=people,dc=example,dc=co,dc=kr",
		Groups:     []string{"cn=staff,ou=groups,dc=example,dc=co,dc=kr"},
		Attributes: map[string][]string{"employeeNumber": {"20240117"}},
	}
}

func BenchmarkPutSession(b *testing.B) {
	s, ctx := benchStore(b), b.Context()
	exp := time.Now().Add(time.Hour)
	for b.Loop() {
		if err := s.PutSession(ctx, idp.Session{ID: idp.NewID(nil), Identity: benchIdentity(), ExpiresAt: exp}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutSessionParallel shows what group commit buys when logins overlap:
// 16 writers per CPU share fsyncs instead of queueing for one each.
func BenchmarkPutSessionParallel(b *testing.B) {
	s, ctx := benchStore(b), b.Context()
	exp := time.Now().Add(time.Hour)
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.PutSession(ctx, idp.Session{ID: idp.NewID(nil), Identity: benchIdentity(), ExpiresAt: exp}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkGetSession(b *testing.B) {
	s, ctx := benchStore(b), b.Context()
	sess := idp.Session{ID: idp.NewID(nil), Identity: benchIdentity(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := s.PutSession(ctx, sess); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.GetSession(ctx, sess.ID); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTakeCode(b *testing.B) {
	s, ctx := benchStore(b), b.Context()
	exp := time.Now().Add(time.Minute)
	for range b.N {
		b.StopTimer()
		c := idp.Code{ID: idp.NewID(nil), Identity: benchIdentity(), TokenID: idp.NewID(nil), ExpiresAt: exp}
		if err := s.PutCode(ctx, c); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := s.TakeCode(ctx, c.ID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutAuditParallel: an audit event is two counters and two records.
// With the bolt backend's Update they are one write of a group commit;
// "calls" hides Update, as the other backends do not have it, and makes
// them four writes, one after the other.
func BenchmarkPutAuditParallel(b *testing.B) {
	for _, tc := range []struct {
		name string
		wrap func(store.Backend) store.Backend
	}{
		{"update", func(bk store.Backend) store.Backend { return bk }},
		{"calls", func(bk store.Backend) store.Backend { return struct{ store.Backend }{bk} }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			bk, err := boltstore.Open(filepath.Join(b.TempDir(), "idp.db"))
			if err != nil {
				b.Fatal(err)
			}
			st := store.New(tc.wrap(bk))
			b.Cleanup(func() { st.Close() })
			s := st.(idp.AuditStore)
			ctx := b.Context()
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					e := idp.AuditEvent{Time: time.Now(), User: fmt.Sprintf("user%d", i%5000), SP: "workplace", Mode: "oauth", Result: idp.AuditSuccess, IP: "10.0.0.1"}
					if err := s.PutAudit(ctx, e); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
