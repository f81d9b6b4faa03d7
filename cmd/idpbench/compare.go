package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

// compareSSP runs the SAML cells against SimpleSAMLphp on the same slapd
// and users, pinned like ours.
func (b *bench) compareSSP(ctx context.Context, sl *slapd) error {
	ssp, err := startSSP(ctx, filepath.Join(b.dir, "ssp"), b.idpCPUs, sl.URL, b.keyFile, b.certFile)
	if err != nil {
		return err
	}
	defer ssp.stop()
	b.report.Versions["simplesamlphp"] = cmdOut("dpkg-query", "-W", "-f=${Version}", "simplesamlphp")
	b.report.Versions["apache2"] = cmdOut("dpkg-query", "-W", "-f=${Version}", "apache2")
	b.report.Versions["php"] = cmdOut("dpkg-query", "-W", "-f=${Version}", "libapache2-mod-php8.2")
	b.logf("simplesamlphp: ready in %.0f ms", ms(ssp.ColdStart))
	idp := samlIdP{ssoURL: ssp.URL + "/simplesaml/saml2/idp/SSOService.php", entityID: sspEntityID, cert: b.cert}
	for _, c := range b.o.concurrency {
		r := runCell(ctx, samlJourney(idp, transport(c)), cellConfig{concurrency: c, warmup: b.o.warmup,
			duration: b.o.duration, users: b.o.users, verifyEvery: b.o.verifyEvery},
			watched{idp: ssp.pid(), slapd: sl.pid()})
		r.Target, r.Mode = "simplesamlphp", "saml"
		b.logf("%s", r.summary())
		b.report.add(r)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// comparison is the side-by-side table: ours / SimpleSAMLphp.
func (r *report) comparison() string {
	var b strings.Builder
	for _, s := range r.Cells {
		if s.Target != "simplesamlphp" {
			continue
		}
		for _, o := range r.Cells {
			if o.Target != "ours" || (o.Mode != "saml" && o.Mode != "saml1") || o.Users != s.Users || o.Concurrency != s.Concurrency {
				continue
			}
			if b.Len() == 0 {
				b.WriteString("\n## SAML side by side: ours / SimpleSAMLphp (same slapd, users, key, load)\n\n" +
					"| conc | ours mode | logins/s ours / SSP (ratio) | login p99 ms ours / SSP (ratio) | IdP CPU ms/login ours / SSP (ratio) |\n|---|---|---|---|---|\n")
			}
			op, sp := o.Steps["login"].P99, s.Steps["login"].P99
			fmt.Fprintf(&b, "| %d | %s | %.0f / %.0f (%s) | %.1f / %.1f (%s) | %.2f / %.2f (%s) |\n", s.Concurrency, o.Mode,
				o.LoginsPerSec, s.LoginsPerSec, ratio(o.LoginsPerSec, s.LoginsPerSec),
				op, sp, ratio(op, sp), o.IdPCPUms, s.IdPCPUms, ratio(o.IdPCPUms, s.IdPCPUms))
		}
	}
	return b.String()
}

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}
