package store

import (
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
)

// fill sets every field reachable from v (a pointer) to a distinct
// non-zero value, so that a field the codec forgets cannot go unnoticed.
func fill(t *testing.T, v reflect.Value, seq *int) {
	t.Helper()
	*seq++
	n := *seq
	switch v.Kind() {
	case reflect.Pointer:
		fill(t, v.Elem(), seq)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Unix(1_790_000_000+int64(n), int64(n)*1_000_001)))
			return
		}
		for i := range v.NumField() {
			fill(t, v.Field(i), seq)
		}
	case reflect.String:
		v.SetString("v" + strconv.Itoa(n) + " é\x00")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(t, s.Index(i), seq)
		}
		v.Set(s)
	case reflect.Uint8:
		v.SetUint(uint64(n))
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(t, k, seq)
			fill(t, e, seq)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	default:
		t.Fatalf("fill: add kind %s (%s) to the test and to codec.go", v.Kind(), v.Type())
	}
}

func recordTypes() []any { return []any{&idp.Session{}, &idp.Flow{}, &idp.Code{}, &idp.Token{}} }

// Every field of every record type goes through the binary codec, and
// reads back as it was.
func TestRecordCodecCarriesEveryField(t *testing.T) {
	for _, p := range recordTypes() {
		t.Run(reflect.TypeOf(p).Elem().Name(), func(t *testing.T) {
			seq := 0
			fill(t, reflect.ValueOf(p), &seq)
			in := reflect.ValueOf(p).Elem().Interface()
			b, err := marshalRecord(in)
			if err != nil || len(b) == 0 || b[0] != recordV1 {
				t.Fatalf("marshal: %v (%x)", err, b)
			}
			out := reflect.New(reflect.TypeOf(in))
			if err := unmarshalRecord(b, out.Interface()); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(in, out.Elem().Interface()) {
				t.Errorf("round trip changed the record:\n in: %+v\nout: %+v", in, out.Elem().Interface())
			}
			j, _ := json.Marshal(in)
			t.Logf("%d bytes binary, %d bytes JSON", len(b), len(j))
		})
	}
}

// Records stored as JSON by earlier versions are still read.
func TestRecordCodecReadsJSON(t *testing.T) {
	for _, p := range recordTypes() {
		seq := 0
		fill(t, reflect.ValueOf(p), &seq)
		in := reflect.ValueOf(p).Elem().Interface()
		j, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		out := reflect.New(reflect.TypeOf(in))
		if err := unmarshalRecord(j, out.Interface()); err != nil {
			t.Fatal(err)
		}
		b1, _ := marshalRecord(in)
		b2, _ := marshalRecord(out.Elem().Interface())
		var r1, r2 = reflect.New(reflect.TypeOf(in)), reflect.New(reflect.TypeOf(in))
		_ = unmarshalRecord(b1, r1.Interface())
		_ = unmarshalRecord(b2, r2.Interface())
		if !reflect.DeepEqual(r1.Interface(), r2.Interface()) {
			t.Errorf("%T from JSON differs: %+v", in, out.Elem().Interface())
		}
	}
}

// A cut or padded record is an error, never a panic or a silent partial
// read.
func TestRecordCodecRefusesDamage(t *testing.T) {
	seq := 0
	s := &idp.Session{}
	fill(t, reflect.ValueOf(s), &seq)
	b, _ := marshalRecord(*s)
	for i := 1; i < len(b); i++ {
		if err := unmarshalRecord(b[:i], &idp.Session{}); err == nil {
			t.Fatalf("record cut to %d of %d bytes read without error", i, len(b))
		}
	}
	if err := unmarshalRecord(append(b, 0), &idp.Session{}); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

func FuzzRecordCodec(f *testing.F) {
	seq := 0
	for _, p := range recordTypes() {
		fill(&testing.T{}, reflect.ValueOf(p), &seq)
		b, _ := marshalRecord(reflect.ValueOf(p).Elem().Interface())
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range recordTypes() {
			v := reflect.New(reflect.TypeOf(p).Elem())
			if unmarshalRecord(b, v.Interface()) != nil || len(b) == 0 || b[0] != recordV1 {
				continue
			}
			// What decodes re-encodes to something that decodes the same.
			again, err := marshalRecord(v.Elem().Interface())
			if err != nil {
				t.Fatal(err)
			}
			w := reflect.New(v.Elem().Type())
			if err := unmarshalRecord(again, w.Interface()); err != nil {
				t.Fatalf("re-encoded %T does not decode: %v", p, err)
			}
		}
	})
}

func BenchmarkRecordCodec(b *testing.B) {
	id := idp.Identity{Subject: "0f8fad5b-d9cb-469f-a165-70867728950e", Username: "user01234", Email: "user01234@example.com",
		DisplayName: "User 01234", DN: "uid=user01234,ou=people,dc=example,dc=com"}
	now := time.Now()
	sess := idp.Session{ID: "sess-0123456789abcdef0123456789abcdef", Identity: id, AuthTime: now, ExpiresAt: now.Add(8 * time.Hour),
		ClientIP: "203.0.113.9", UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 NAVER WORKS"}
	bin, _ := marshalRecord(sess)
	js, _ := json.Marshal(sess)
	for _, c := range []struct {
		name string
		enc  func(any) ([]byte, error)
		rec  []byte
	}{{"binary", marshalRecord, bin}, {"json", json.Marshal, js}} {
		b.Run("encode_session_"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.enc(sess); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("decode_session_"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.ReportMetric(float64(len(c.rec)), "bytes/record")
			for b.Loop() {
				var s idp.Session
				if err := unmarshalRecord(c.rec, &s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A session a previous version stored (sealed JSON) is still found after
// the upgrade, and one stored now is binary.
func TestStoredJSONSessionStillRead(t *testing.T) {
	b := &mapBackend{m: map[string][]byte{}}
	st := New(b).(*typed)
	ctx := t.Context()
	old := idp.Session{ID: "sess-old", Identity: idp.Identity{Subject: "s1", Username: "kim", Email: "kim@example.com"},
		AuthTime: time.Unix(1_790_000_000, 0), ExpiresAt: time.Now().Add(time.Hour)}
	pt, _ := json.Marshal(old)
	key := lookupKey(old.ID)
	sealed, err := st.seal.seal(BucketSessions, old.ID, key, pt)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, BucketSessions, key, sealed, old.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	got, err := st.GetSession(ctx, old.ID)
	if err != nil || got.Identity.Email != "kim@example.com" || !got.AuthTime.Equal(old.AuthTime) {
		t.Fatalf("JSON session after the upgrade: %+v, %v", got, err)
	}
	if err := st.PutSession(ctx, old); err != nil {
		t.Fatal(err)
	}
	raw, _ := b.Get(ctx, BucketSessions, key)
	pt, err = st.seal.open(BucketSessions, old.ID, key, raw)
	if err != nil || len(pt) == 0 || pt[0] != recordV1 {
		t.Fatalf("stored again: not the binary form (%v)", err)
	}
}
