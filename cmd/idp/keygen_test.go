package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ncp-sso/idp/certs"
)

func TestKeygenCommand(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "idp-signing")
	var stdout, stderr bytes.Buffer
	code := cmdKeygen(context.Background(), []string{"--out", prefix, "--days", "30", "--cn", "sso.example.com"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d, stderr: %s", code, stderr.String())
	}
	fi, err := os.Stat(prefix + ".key")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %04o, want 0600", fi.Mode().Perm())
	}
	kp, err := certs.Load(prefix+".key", prefix+".pem", time.Now())
	if err != nil {
		t.Fatalf("written pair does not load: %v", err)
	}
	if kp.Cert.Subject.CommonName != "sso.example.com" {
		t.Errorf("CN = %q", kp.Cert.Subject.CommonName)
	}
	if d := time.Until(kp.Cert.NotAfter); d < 29*24*time.Hour || d > 31*24*time.Hour {
		t.Errorf("certificate valid for %s, want about 30 days", d)
	}
	for _, want := range []string{prefix + ".pem", certs.Fingerprint(kp.Cert), kp.Cert.NotAfter.UTC().Format(time.RFC3339)} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output does not show %q:\n%s", want, stdout.String())
		}
	}
	// Running again refuses to overwrite the key.
	stdout.Reset()
	stderr.Reset()
	if code := cmdKeygen(context.Background(), []string{"--out", prefix}, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "--force") {
		t.Errorf("second run: exit %d, stderr %q; want refusal mentioning --force", code, stderr.String())
	}
}

func TestKeygenFlags(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, 0, "-bits int"},
		{[]string{"--bits", "1024", "--out", filepath.Join(t.TempDir(), "x")}, 1, "2048, 3072 or 4096"},
		{[]string{"--days", "0"}, 2, "--days must be positive"},
		{[]string{"extra"}, 2, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := cmdKeygen(context.Background(), tt.args, &stdout, &stderr); code != tt.code {
				t.Errorf("exit %d, want %d (stderr %s)", code, tt.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.want)
			}
		})
	}
}
