package main

import (
	"bytes"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ncp-sso/idp/certs"
)

// TestRSAProbe: the probe signs with the key files the IdP is given and
// prints a plausible time per signature; a missing key is an error.
func TestRSAProbe(t *testing.T) {
	kp, err := certs.Generate(certs.Options{CommonName: "probe"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key, cert := filepath.Join(dir, "k.pem"), filepath.Join(dir, "c.pem")
	if err := certs.WriteFiles(kp, key, cert, false); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := rsaProbe(key, cert, 20*time.Millisecond, time.Millisecond, &out); err != nil {
		t.Fatal(err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(out.String()), 10, 64)
	if err != nil || ns < int64(10*time.Microsecond) || ns > int64(time.Second) {
		t.Fatalf("probe printed %q", out.String())
	}
	if err := rsaProbe(filepath.Join(dir, "none.pem"), cert, time.Millisecond, time.Millisecond, &out); err == nil {
		t.Fatal("no error for a missing key")
	}
}
