package saml

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"
	xrv "github.com/mattermost/xml-roundtrip-validator"
)

// TestDeflateBomb: a request that inflates to gigabytes is refused quickly
// and with bounded memory.
func TestDeflateBomb(t *testing.T) {
	// 64 MiB of zeros compresses to about 64 KiB; the cap stops at 256 KiB.
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	zeros := make([]byte, 1<<20)
	for i := 0; i < 64; i++ {
		_, _ = w.Write(zeros)
	}
	_ = w.Close()
	enc := base64.StdEncoding.EncodeToString(b.Bytes())

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, err := DecodeRequest(BindingRedirect, enc)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("DecodeRequest(bomb) = %v, want ErrTooLarge", err)
	}
	if elapsed > 500*time.Millisecond {
		t.Errorf("bomb took %s to refuse", elapsed)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Errorf("bomb allocated %d bytes", grew)
	}
}

func TestDecodeRequest(t *testing.T) {
	doc := `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="a"/>`
	deflated := base64.StdEncoding.EncodeToString(deflate(t, doc))
	plain := base64.StdEncoding.EncodeToString([]byte(doc))
	wrapped := plain[:20] + "\r\n" + plain[20:]
	tests := []struct {
		name    string
		b       Binding
		in      string
		want    string
		wantErr error
	}{
		{"redirect", BindingRedirect, deflated, doc, nil},
		{"post", BindingPOST, plain, doc, nil},
		{"post wrapped base64", BindingPOST, wrapped, doc, nil},
		{"redirect not deflated", BindingRedirect, plain, "", ErrMalformed},
		{"empty", BindingRedirect, "", "", ErrMalformed},
		{"not base64", BindingPOST, "!!!!", "", ErrMalformed},
		{"url-safe base64", BindingPOST, strings.NewReplacer("+", "-", "/", "_").Replace(base64.StdEncoding.EncodeToString([]byte{0xfb, 0xff, 0xfe})), "", ErrMalformed},
		{"post too large", BindingPOST, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("a"), maxXMLBytes+1)), "", ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeRequest(tt.b, tt.in)
			if !errors.Is(err, tt.wantErr) || string(got) != tt.want {
				t.Errorf("DecodeRequest = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseAuthnRequestRefusesDTD(t *testing.T) {
	tests := map[string]string{
		"doctype":         `<!DOCTYPE x><samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>`,
		"billion laughs":  billionLaughs,
		"external entity": `<!DOCTYPE x [<!ENTITY e SYSTEM "http://evil.example/">]><samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&e;</samlp:AuthnRequest>`,
	}
	for name, doc := range tests {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			if _, err := ParseAuthnRequest([]byte(doc)); !errors.Is(err, ErrDTD) {
				t.Errorf("ParseAuthnRequest = %v, want ErrDTD", err)
			}
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Errorf("took %s", d)
			}
		})
	}
	for name, doc := range map[string]string{
		"undeclared entity":      `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&e;</samlp:AuthnRequest>`,
		"processing instruction": `<?php x?><samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>`,
		"utf-16":                 "\xff\xfe<\x00a\x00/\x00>\x00",
		"empty":                  ``,
		"two roots":              `<a/><b/>`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseAuthnRequest([]byte(doc)); !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseAuthnRequest = %v, want ErrMalformed", err)
			}
		})
	}
}

// TestParseAuthnRequestRefusesRoundTripTricks: XML that encoding/xml
// accepts in strict mode but would re-serialise as something else (here:
// one attribute twice under two prefixes of the same namespace) is refused
// by the round-trip check, wherever the token is.
func TestParseAuthnRequestRefusesRoundTripTricks(t *testing.T) {
	const open = `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="a" Version="2.0"`
	const twice = ` xmlns:x="urn:u" x:a="1" xmlns:y="urn:u" y:a="2"`
	for name, doc := range map[string]string{
		"on the root":  open + twice + `/>`,
		"in a child":   open + `><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"` + twice + `>sp</saml:Issuer></samlp:AuthnRequest>`,
		"after a decl": `<?xml version="1.0"?>` + open + `><e` + twice + `/></samlp:AuthnRequest>`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseAuthnRequest([]byte(doc))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "round-trip") {
				t.Errorf("ParseAuthnRequest = %v, want a round-trip refusal", err)
			}
		})
	}
	// A round-trip fault does not hide a DTD later in the document: the
	// DTD is what is reported.
	if _, err := ParseAuthnRequest([]byte(open + twice + `><!DOCTYPE x></samlp:AuthnRequest>`)); !errors.Is(err, ErrDTD) {
		t.Errorf("ParseAuthnRequest(DTD and round-trip fault) = %v, want ErrDTD", err)
	}
}

// FuzzPlainValuesRoundTrip: leaving plain attribute values out of the
// round-trip memory's key is sound only if the check cannot tell such
// values apart. For every start tag of arbitrary XML, the check must give
// the same outcome with each plain value replaced by another plain value
// (and tokens with equal keys are exactly such variants).
func FuzzPlainValuesRoundTrip(f *testing.F) {
	f.Add(goodRequest(time.Unix(1700000000, 0), "id-1").xml())
	f.Add(`<a xmlns:x="urn:u" x:a="1" xmlns:y="urn:u" y:a="2" ID="q"/>`)
	f.Add(`<p:a xmlns:p="urn:p" xmlns="urn:d" p:ID="_1" ID="2026-11-22T08:55:00Z"><b xmlns:xml="urn:x" xml:lang="ko" x="a&amp;b"/></p:a>`)
	f.Add(`<a xmlns:xmlns="urn:a" xmlns:p="p" p:v="1" xmlns:_="urn:b" _:w="2"/>`)
	f.Fuzz(func(t *testing.T, doc string) {
		d := xml.NewDecoder(strings.NewReader(doc))
		for range 64 {
			tok, err := d.RawToken()
			if err != nil {
				return
			}
			start, ok := tok.(xml.StartElement)
			if !ok {
				continue
			}
			start = start.Copy()
			variant := start.Copy()
			for i, a := range variant.Attr {
				if plainAttr(a) {
					variant.Attr[i].Value = "v" + strconv.Itoa(i)
				}
			}
			k1, _ := tokenKey(nil, start)
			k2, _ := tokenKey(nil, variant)
			if !bytes.Equal(k1, k2) {
				t.Fatalf("a variant in plain values has another key: %v / %v", start, variant)
			}
			e1, e2 := xrv.CheckToken(start), xrv.CheckToken(variant)
			if (e1 == nil) != (e2 == nil) {
				t.Fatalf("round-trip check of %#v: %v; of its variant %#v: %v", start, e1, variant, e2)
			}
		}
	})
}

// FuzzDecodeRequest: decoding and parsing arbitrary SAMLRequest values must
// never panic, and never return more than the cap.
func FuzzDecodeRequest(f *testing.F) {
	good := goodRequest(time.Unix(1700000000, 0), "id-1").xml()
	f.Add(true, base64.StdEncoding.EncodeToString(deflate(f, good)))
	f.Add(false, base64.StdEncoding.EncodeToString([]byte(good)))
	f.Add(true, base64.StdEncoding.EncodeToString(deflate(f, billionLaughs)))
	f.Add(false, "%%%")
	f.Fuzz(func(t *testing.T, redirect bool, v string) {
		b := BindingPOST
		if redirect {
			b = BindingRedirect
		}
		doc, err := DecodeRequest(b, v)
		if err != nil {
			return
		}
		if len(doc) > maxXMLBytes {
			t.Fatalf("decoded %d bytes, over the cap", len(doc))
		}
		_, _ = ParseAuthnRequest(doc)
	})
}

// twoPassParse is the reading ParseAuthnRequest replaced, kept as its
// oracle: a strict pass that puts every token (character data and end
// tags included) through the round-trip validator, then a second,
// separate decoding.
func twoPassParse(doc []byte) (*crewjam.AuthnRequest, error) {
	if !isUTF8Compatible(doc) {
		return nil, ErrMalformed
	}
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	seenRoot := false
	var roundTrip error
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, ErrMalformed
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, ErrDTD
		case xml.StartElement:
			seenRoot = true
		case xml.ProcInst:
			if t.Target != "xml" {
				return nil, ErrMalformed
			}
		}
		if roundTrip == nil {
			roundTrip = xrv.CheckToken(tok)
		}
	}
	if !seenRoot || roundTrip != nil {
		return nil, ErrMalformed
	}
	var req crewjam.AuthnRequest
	if err := xml.Unmarshal(doc, &req); err != nil {
		return nil, ErrMalformed
	}
	return &req, nil
}

// FuzzParseAuthnRequestOracle: the one-pass ParseAuthnRequest accepts and
// refuses exactly what the two-pass reading does (DTD or other fault
// alike), and decodes the same request.
func FuzzParseAuthnRequestOracle(f *testing.F) {
	f.Add(goodRequest(time.Unix(1700000000, 0), "id-1").xml())
	const open = `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="a" Version="2.0"`
	for _, s := range []string{
		open + ` xmlns:x="urn:u" x:a="1" xmlns:y="urn:u" y:a="2"/>`,
		open + `><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">a &amp; b&#x9;<![CDATA[<c>]]></saml:Issuer></samlp:AuthnRequest>`,
		open + `><a:b:c>x</a:b:c></samlp:AuthnRequest>`,
		open + `><x></y></samlp:AuthnRequest>`,
		open + `/><!DOCTYPE x>`,
		open + `/><b/>`,
		`<?xml version="1.0" encoding="UTF-8"?><!-- c -->` + open + `/>`,
		billionLaughs,
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		got, err := ParseAuthnRequest([]byte(doc))
		want, werr := twoPassParse([]byte(doc))
		if (err == nil) != (werr == nil) || errors.Is(err, ErrDTD) != errors.Is(werr, ErrDTD) {
			t.Fatalf("ParseAuthnRequest = %v, the two-pass reading = %v", err, werr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("decoded\n%#v\nwant\n%#v", got, want)
		}
	})
}

// issuerTag is the Issuer start tag of goodRequest.
var issuerTag = xml.StartElement{Name: xml.Name{Space: "saml2", Local: "Issuer"},
	Attr: []xml.Attr{{Name: xml.Name{Space: "xmlns", Local: "saml2"}, Value: "urn:oasis:names:tc:SAML:2.0:assertion"}}}

// remembered reports whether the round-trip memory holds tok's key.
func remembered(tok xml.Token) bool {
	key, _ := tokenKey(nil, tok)
	roundTripPassed.RLock()
	defer roundTripPassed.RUnlock()
	_, ok := roundTripPassed.m[string(key)]
	return ok
}

// A token that passed the round-trip check is remembered whole; one that
// was refused is refused again, never remembered; the memory is bounded;
// and the key tells apart tokens whose parts only move across a boundary.
func TestRoundTripMemory(t *testing.T) {
	count := func() int {
		roundTripPassed.RLock()
		defer roundTripPassed.RUnlock()
		return len(roundTripPassed.m)
	}
	roundTripPassed.Lock()
	roundTripPassed.m = nil
	roundTripPassed.Unlock()
	for _, id := range []string{"id-memory-1", "id-memory-2", "id-memory-3"} {
		if _, err := ParseAuthnRequest([]byte(goodRequest(time.Unix(1700000000, 0), id).xml())); err != nil {
			t.Fatal(err)
		}
	}
	// Parsing alone teaches the memory nothing: only a request that then
	// passes validation does (learnRoundTrips, from validate).
	if n := count(); n != 0 {
		t.Errorf("parsing alone left %d tags remembered", n)
	}
	for _, id := range []string{"id-memory-1", "id-memory-2", "id-memory-3"} {
		_, learned, err := parseAuthnRequest([]byte(goodRequest(time.Unix(1700000000, 0), id).xml()))
		if err != nil {
			t.Fatal(err)
		}
		learnRoundTrips(learned)
	}
	// The XML declaration, the root element, Issuer and NameIDPolicy,
	// once each: the root's ID and IssueInstant, which differ in every
	// request, are plain values and not part of its key.
	if n := count(); n != 4 {
		t.Errorf("three requests left %d tags remembered, want 4", n)
	}
	if !remembered(issuerTag) {
		t.Error("the Issuer tag of a parsed request is not remembered")
	}

	// The trick on a child element, whose refusal goes through the memory
	// (a refused root element is not remembered either).
	const trick = `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="a" Version="2.0"><e xmlns:x="urn:u" x:a="1" xmlns:y="urn:u" y:a="2"/></samlp:AuthnRequest>`
	before := count()
	for range 2 {
		if _, err := ParseAuthnRequest([]byte(trick)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("round-trip trick: %v, want ErrMalformed", err)
		}
	}
	if count() != before {
		t.Error("a refused tag was remembered")
	}

	// One request teaches at most roundTripLearnMax tags; the memory holds
	// roundTripKeep, and newer tags then replace older ones.
	var g xmlGuard
	for i := range 2 * roundTripKeep {
		tok := xml.StartElement{Name: xml.Name{Local: "e"}, Attr: []xml.Attr{{Name: xml.Name{Local: "n" + strconv.Itoa(i)}}}}
		if err := g.checkRoundTrip(tok, true); err != nil {
			t.Fatal(err)
		}
	}
	if len(g.learned) != roundTripLearnMax {
		t.Errorf("one request would teach %d tags, want at most %d", len(g.learned), roundTripLearnMax)
	}
	var last string
	for i := range 2 * roundTripKeep {
		tok := xml.StartElement{Name: xml.Name{Local: "f"}, Attr: []xml.Attr{{Name: xml.Name{Local: "n" + strconv.Itoa(i)}}}}
		key, _ := tokenKey(nil, tok)
		last = string(key)
		learnRoundTrips([]string{last})
	}
	roundTripPassed.RLock()
	n := len(roundTripPassed.m)
	_, newest := roundTripPassed.m[last]
	roundTripPassed.RUnlock()
	if n != roundTripKeep || !newest {
		t.Errorf("after %d new tags the memory holds %d (newest kept: %v), want the cap %d with the newest", 2*roundTripKeep, n, newest, roundTripKeep)
	}
	if !worthRemembering(xml.StartElement{Name: xml.Name{Space: nsDSig, Local: "Reference"}, Attr: []xml.Attr{{Name: xml.Name{Local: "URI"}, Value: "#id-1"}}}) {
		t.Error("a ds:Reference whose URI is plain (not in its key) would not be remembered")
	}
	if worthRemembering(xml.StartElement{Name: xml.Name{Local: "AuthnRequest"}, Attr: []xml.Attr{{Name: xml.Name{Local: "ID"}, Value: "id<1>"}}}) {
		t.Error("a tag whose ID is not plain (so in its key, different in every request) would be remembered")
	}

	// Plain values are left out of the key; namespace declarations and
	// values the encoder escapes are not.
	keyOf := func(attr ...xml.Attr) string {
		k, _ := tokenKey(nil, xml.StartElement{Name: xml.Name{Local: "e"}, Attr: attr})
		return string(k)
	}
	attr := func(space, local, value string) xml.Attr {
		return xml.Attr{Name: xml.Name{Space: space, Local: local}, Value: value}
	}
	for _, c := range []struct {
		a, b xml.Attr
		same bool
	}{
		{attr("", "ID", "_a1"), attr("", "ID", "_b2-2026-11-22T08:55:00Z"), true},
		{attr("", "Destination", "https://sso.example/saml/sso"), attr("", "Destination", "https://x.example/"), true},
		{attr("", "ID", "a"), attr("", "Id", "a"), false},
		{attr("", "ID", "a&b"), attr("", "ID", "a&c"), false},
		{attr("", "ID", "a'b"), attr("", "ID", "a'c"), false},
		{attr("", "ID", "a\tb"), attr("", "ID", "a\tc"), false},
		{attr("", "ID", "é"), attr("", "ID", "è"), false},
		{attr("xmlns", "p", "urn:a"), attr("xmlns", "p", "urn:b"), false},
		{attr("", "xmlns", "urn:a"), attr("", "xmlns", "urn:b"), false},
		{attr("", "ID", "a&b"), attr("", "ID", "a"), false},
	} {
		if same := keyOf(c.a) == keyOf(c.b); same != c.same {
			t.Errorf("keys of %v and %v: same %v, want %v", c.a, c.b, same, c.same)
		}
	}

	a, _ := tokenKey(nil, xml.StartElement{Name: xml.Name{Space: "ab", Local: "c"}})
	b, _ := tokenKey(nil, xml.StartElement{Name: xml.Name{Space: "a", Local: "bc"}})
	c, _ := tokenKey(nil, xml.ProcInst{Target: "x", Inst: []byte("y")})
	d, _ := tokenKey(nil, xml.ProcInst{Target: "xy"})
	if bytes.Equal(a, b) || bytes.Equal(c, d) {
		t.Error("tokenKey gives two different tokens the same key")
	}
	if _, ok := tokenKey(nil, xml.StartElement{Name: xml.Name{Local: "e"}, Attr: []xml.Attr{{Name: xml.Name{Local: "n"}, Value: strings.Repeat("<", roundTripKeyMax)}}}); ok {
		t.Error("a tag over roundTripKeyMax bytes gets a key")
	}
}

// TestRoundTripMemoryLearnsFromValidRequests: a refused request (here an
// unknown Issuer, carrying roundTripKeep extra elements) teaches the
// memory nothing, so the real SP's tags are still learned after it; and a
// real SP's signed requests, whose ds:Reference differs every time, do
// not grow it.
func TestRoundTripMemoryLearnsFromValidRequests(t *testing.T) {
	reset := func() {
		roundTripPassed.Lock()
		roundTripPassed.m = nil
		roundTripPassed.Unlock()
	}
	size := func() int {
		roundTripPassed.RLock()
		defer roundTripPassed.RUnlock()
		return len(roundTripPassed.m)
	}
	reset()
	env := newEnv(t, workplaceConfig(), false)
	now := env.h.Now()
	var junk strings.Builder
	for i := range roundTripKeep {
		fmt.Fprintf(&junk, `<j n="%d"/>`, i)
	}
	r := goodRequest(now, "id-unknown-issuer")
	r.Issuer = "nobody.example"
	if rec := env.do(redirectReq(t, strings.Replace(r.xml(), "<saml2:Issuer", junk.String()+"<saml2:Issuer", 1), "")); rec.Code != http.StatusBadRequest {
		t.Fatalf("unknown Issuer: %d, want 400", rec.Code)
	}
	if n := size(); n != 0 {
		t.Fatalf("a refused request left %d tags remembered", n)
	}
	if rec := env.do(redirectReq(t, goodRequest(now, "id-known-issuer").xml(), "r")); rec.Code != http.StatusSeeOther {
		t.Fatalf("valid request: %d", rec.Code)
	}
	if !remembered(issuerTag) {
		t.Error("the valid request's Issuer tag is not remembered")
	}

	reset()
	sp, cfg := signingSP(t)
	env = newEnv(t, cfg, false)
	sp.IDPMetadata = idpMetadataForSP(t, env)
	var sizes []int
	for range 4 {
		areq, err := sp.MakeAuthenticationRequest(testPublicURL+PathSSO, crewjam.HTTPPostBinding, crewjam.HTTPPostBinding)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := xmlMarshal(areq.Element())
		if err != nil {
			t.Fatal(err)
		}
		if rec := env.do(postReq("SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(doc)))); rec.Code != http.StatusSeeOther {
			t.Fatalf("signed request: %d %s", rec.Code, env.h.logBuf.String())
		}
		sizes = append(sizes, size())
	}
	if sizes[0] == 0 || sizes[len(sizes)-1] != sizes[0] {
		t.Errorf("memory sizes after each signed request: %v, want the first request's tags and no more", sizes)
	}
}
