package templates

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// TestHiddenBase64Input: the field parses, as a browser would, to one
// hidden input whose value decodes to the bytes given (every Base64
// character, + / = included, survives unescaped), and the value returned
// is that same Base64.
func TestHiddenBase64Input(t *testing.T) {
	raw := make([]byte, 3000)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	raw = append(raw, 0xfb, 0xff, 0xbf) // encodes to "+/+/"-rich text
	field, value, release := HiddenBase64Input("SAMLResponse", raw)
	defer release()
	if want := base64.StdEncoding.EncodeToString(raw); value != want {
		t.Fatalf("value %.40q…, want %.40q…", value, want)
	}
	if !strings.ContainsAny(value, "+/") {
		t.Fatal("test data has no + or / to check")
	}
	doc, err := html.Parse(strings.NewReader("<form>" + string(field) + "</form>"))
	if err != nil {
		t.Fatal(err)
	}
	var inputs []map[string]string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" {
			a := map[string]string{}
			for _, at := range n.Attr {
				a[at.Key] = at.Val
			}
			inputs = append(inputs, a)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if len(inputs) != 1 || len(inputs[0]) != 3 || inputs[0]["type"] != "hidden" || inputs[0]["name"] != "SAMLResponse" {
		t.Fatalf("parsed inputs %v", inputs)
	}
	got, err := base64.StdEncoding.DecodeString(inputs[0]["value"])
	if err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("the value a browser posts does not decode to the input (err %v)", err)
	}

	hostile, _, _ := HiddenBase64Input(`x"><script>`, nil)
	if strings.Contains(string(hostile), "<script>") {
		t.Errorf("name not escaped: %s", hostile)
	}
}

// TestHiddenBase64InputReuse: a released buffer serves the next field,
// which is whole and right, and a field not yet released is never
// written over by another.
func TestHiddenBase64InputReuse(t *testing.T) {
	a := bytes.Repeat([]byte("a"), 9000)
	b := bytes.Repeat([]byte("b"), 9000)
	_, va, releaseA := HiddenBase64Input("SAMLResponse", a)
	_, vb, releaseB := HiddenBase64Input("SAMLResponse", b)
	if va != base64.StdEncoding.EncodeToString(a) || vb != base64.StdEncoding.EncodeToString(b) {
		t.Fatal("two fields held at once share memory")
	}
	releaseA()
	releaseB()
	want := base64.StdEncoding.EncodeToString(a)
	per := testing.Benchmark(func(bm *testing.B) {
		bm.ReportAllocs()
		for bm.Loop() {
			_, v, release := HiddenBase64Input("SAMLResponse", a)
			if v != want {
				bm.Fatal("a field from a reused buffer is wrong")
			}
			release()
		}
	}).AllocedBytesPerOp()
	// Not a new 12 KB field each time. The bound is three quarters of a
	// field, not nothing: a garbage collection empties the pool, and under
	// the race detector (as in CI) sync.Pool drops a quarter of what it is
	// given on purpose. A field never given back costs all of it.
	if field := int64(len(want)); per > field*3/4 {
		t.Errorf("%d bytes allocated per %d-byte field with its buffer released each time", per, field)
	}
}
