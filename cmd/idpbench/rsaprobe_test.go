package main

import (
	"bytes"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ncp-sso/idp/certs/certstest"
)

// TestRSAProbe: the probe signs with the key files the IdP is given and
// prints a plausible time per signature; a missing key is an error.
func TestRSAProbe(t *testing.T) {
	dir := t.TempDir()
	key, cert := certstest.SigningFiles(t, dir)
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
