package main

import (
	"strings"
	"testing"
	"time"
)

// TestParseOpenSSLSpeed reads the signing rate from both layouts of
// `openssl speed rsa2048`, and refuses output without one.
func TestParseOpenSSLSpeed(t *testing.T) {
	tests := []struct {
		name, out string
		want      float64
	}{
		{"3.0", `Doing 2048 bits private rsa's for 3s: 8249 2048 bits private RSA's in 3.00s
Doing 2048 bits public rsa's for 3s: 151654 2048 bits public RSA's in 3.00s
version: 3.0.19
built on: Tue Jan 27 00:00:00 2026 UTC
options: bn(64,64)
CPUINFO: OPENSSL_ia32cap=0xfffa32034f8bffff:0x1a415f46f1bf2ffb
                  sign    verify    sign/s verify/s
rsa 2048 bits 0.000364s 0.000019s   2749.9  51627.8
`, 2749.9},
		{"3.2 and later", `version: 3.5.1
                   sign    verify    encrypt   decrypt   sign/s verify/s  encr./s  decr./s
rsa   2048 bits 0.000370s 0.000011s 0.000012s 0.000365s   2702.7  90909.1  83333.3   2739.7
`, 2702.7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOpenSSLSpeed(tt.out)
			if err != nil || got != tt.want {
				t.Fatalf("parseOpenSSLSpeed = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "rsa 2048 bits 0.1s 0.1s 10 10\n", "sign verify sign/s verify/s\nrsa 4096 bits 0.1s 0.1s 10 10\n", "sign verify sign/s verify/s\nrsa 2048 bits 0.1s 0.1s x 10\n"} {
		if v, err := parseOpenSSLSpeed(bad); err == nil {
			t.Errorf("parseOpenSSLSpeed(%q) = %v, want an error", bad, v)
		}
	}
}

// TestParseRSAProbe: the probe's flag takes an optional pause and refuses
// what is not a duration.
func TestParseRSAProbe(t *testing.T) {
	k, c, d, every, err := parseRSAProbe("k.pem,c.pem,3s")
	if err != nil || k != "k.pem" || c != "c.pem" || d != 3*time.Second || every != rsaProbeEvery {
		t.Fatalf("got %q %q %v %v %v", k, c, d, every, err)
	}
	if _, _, _, every, err = parseRSAProbe("k.pem,c.pem,3s,0s"); err != nil || every != 0 {
		t.Fatalf("back to back: every %v, %v", every, err)
	}
	for _, bad := range []string{"k.pem,c.pem", "k.pem,c.pem,soon", "k.pem,c.pem,0s", "k.pem,c.pem,1s,-1s", "k.pem,c.pem,1s,x", "a,b,c,1s,1s"} {
		if _, _, _, _, err := parseRSAProbe(bad); err == nil {
			t.Errorf("parseRSAProbe(%q): no error", bad)
		}
	}
}

// TestYardstickColumn: the SAML table scales the IdP's CPU beyond its own
// signing by the yardstick's reference time, and shows "-" without one.
func TestYardstickColumn(t *testing.T) {
	cell := cellResult{Target: "ours", Mode: "saml", Users: 5000, Concurrency: 64, IdPCPUms: 2.5, SigningMs: 1.0, SigningInsideMs: 1.0}
	r := &report{Cells: []cellResult{cell}}
	if row := lastRow(r.beyondSigning()); !strings.HasSuffix(row, "| 0.50 / 0.50 | 0.55 | - |") {
		t.Fatalf("without a yardstick: %q", row)
	}
	r.Yardstick = yardstick{OpenSSL: "OpenSSL 3.0.19", OpenSSLSignsPS: 2940, GoSignMs: 0.9, ReferenceGoMs: 0.98}
	if row := lastRow(r.beyondSigning()); !strings.HasSuffix(row, "| 0.50 / 0.50 | 0.55 | 0.49 |") {
		t.Fatalf("with one: %q", row)
	}
	if md := r.Yardstick.markdown(); !strings.Contains(md, "2940 signatures/s") || !strings.Contains(md, "0.980 ms") {
		t.Fatalf("markdown %q", md)
	}
	if md := (yardstick{Missing: "no openssl"}).markdown(); !strings.Contains(md, "none (no openssl)") {
		t.Fatalf("missing: %q", md)
	}
}

func lastRow(table string) string {
	rows := strings.Split(strings.TrimSpace(table), "\n")
	return rows[len(rows)-1]
}
