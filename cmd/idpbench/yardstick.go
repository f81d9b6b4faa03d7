package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The machine's speed, against the reference machine. The issue
// gives two figures for one core of that machine: Go's crypto/rsa signs
// RSA-2048 in 1.1 ms, OpenSSL 2,700 times a second. Go's figure moves with
// the Go release (crypto/rsa was rewritten in 1.20 and has been made
// faster in several releases since; the issue does not name its Go),
// while OpenSSL's RSA code has been stable for years. So before any load,
// idpbench times both on the IdP's CPU, back to back: OpenSSL gives this machine's speed
// against the reference, and the ratio of the two gives what the
// reference machine would take per signature with the Go this IdP is built
// with. The SAML table then also states the IdP's CPU beyond signing at
// the reference machine's speed measured that way.

// referenceOpenSSLSignsPerSec is the OpenSSL RSA-2048 signing rate
// on one core of the reference machine.
const referenceOpenSSLSignsPerSec = 2700

// yardstick is what machineYardstick measured.
type yardstick struct {
	OpenSSL        string  `json:"openssl_version,omitempty"`
	OpenSSLSignsPS float64 `json:"openssl_rsa2048_signs_per_s,omitempty"`
	GoSignMs       float64 `json:"go_rsa2048_sign_ms,omitempty"`
	// ReferenceGoMs is the reference machine's time per signature with
	// this Go: GoSignMs x OpenSSLSignsPS / 2,700.
	ReferenceGoMs float64 `json:"reference_go_sign_ms,omitempty"`
	// Missing says why there is no yardstick (no openssl binary, ...).
	Missing string `json:"missing,omitempty"`
}

// yardstickSeconds is how long each of the two is timed, once each side
// of the other for Go.
const yardstickSeconds = 3

// machineYardstick times OpenSSL and Go signing on the IdP's CPU. It is
// run before slapd and the IdP start, so the CPU is otherwise idle. A
// machine without the openssl command gets a yardstick that says so.
func (b *bench) machineYardstick(ctx context.Context) (yardstick, error) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		return yardstick{Missing: "no openssl command (apt-get install openssl)"}, nil
	}
	v := strings.Fields(cmdOut(bin, "version")) // "OpenSSL 3.0.19 27 Jan 2026 (Library: ...)"
	y := yardstick{OpenSSL: strings.Join(v[:min(2, len(v))], " ")}
	var goMs float64
	for i := range 2 {
		ms, err := b.signingProbeEvery(ctx, yardstickSeconds*time.Second, 0)
		if err != nil {
			return y, err
		}
		goMs += ms / 2
		if i == 0 {
			out, err := pinned(b.idpCPUs, bin, "speed", "-seconds", strconv.Itoa(yardstickSeconds), "rsa2048").Output()
			if err != nil {
				return y, fmt.Errorf("idpbench: openssl speed: %w", err)
			}
			if y.OpenSSLSignsPS, err = parseOpenSSLSpeed(string(out)); err != nil {
				return y, err
			}
		}
	}
	y.GoSignMs = goMs
	y.ReferenceGoMs = goMs * y.OpenSSLSignsPS / referenceOpenSSLSignsPerSec
	return y, ctx.Err()
}

// parseOpenSSLSpeed finds the RSA-2048 signing rate in the output of
// `openssl speed rsa2048`: the row "rsa 2048 bits ..." under a header
// that names its columns (OpenSSL 3.0 prints sign, verify, sign/s,
// verify/s; later releases add encrypt and decrypt columns).
func parseOpenSSLSpeed(out string) (float64, error) {
	var header []string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if slices.Contains(f, "sign/s") {
			header = f
			continue
		}
		if len(f) < 3 || f[0] != "rsa" || f[1] != "2048" || !strings.HasPrefix(f[2], "bits") || header == nil {
			continue
		}
		vals := f[3:]
		for i, h := range header {
			if h == "sign/s" && i < len(vals) {
				v, err := strconv.ParseFloat(vals[i], 64)
				if err != nil || v <= 0 {
					break
				}
				return v, nil
			}
		}
	}
	return 0, errors.New("idpbench: openssl speed printed no RSA-2048 sign/s")
}

// markdown is the yardstick's line in the report's machine facts.
func (y yardstick) markdown() string {
	if y.ReferenceGoMs == 0 {
		if y.Missing == "" {
			return ""
		}
		return fmt.Sprintf("- machine yardstick: none (%s)\n", y.Missing)
	}
	return fmt.Sprintf("- machine yardstick, RSA-2048 signing on the IdP's CPU before the load: %s %.0f signatures/s (the issue's reference machine: %d), Go crypto/rsa %.3f ms each; so the reference machine signs with this Go in %.3f ms (the issue's 1.1 ms does not name its Go release)\n",
		y.OpenSSL, y.OpenSSLSignsPS, referenceOpenSSLSignsPerSec, y.GoSignMs, y.ReferenceGoMs)
}
