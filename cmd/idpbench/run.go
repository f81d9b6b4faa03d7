package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"
)

// transport is the generator's HTTP client side: kept-alive connections,
// enough idle ones for every worker. Each new connection comes from the next
// of 250 loopback addresses (127.0.1.1-250), so that the IdP sees many
// clients, as it does from a company's browsers, rather than one address
// whose per-IP limits a real office would never share at this rate.
func transport(conc int) *http.Transport {
	var next atomic.Uint32
	return &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			n := next.Add(1)%250 + 1
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(n))}}
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConns:        4 * conc,
		MaxIdleConnsPerHost: 4 * conc,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
		// A whole page (the auto-POST one is some 15 KiB) in one read.
		ReadBufferSize: 32 << 10,
	}
}

// run measures everything asked for; the report is written even when a
// later part fails, with the error in it.
func (b *bench) run(ctx context.Context) error {
	b.report.start()
	err := b.measure(ctx)
	if err != nil {
		b.report.Error = err.Error()
	}
	b.report.finish()
	if werr := b.report.write(b.out, b.o.out); werr != nil && err == nil {
		err = werr
	}
	return err
}

func (b *bench) measure(ctx context.Context) error {
	if b.o.yardstick {
		b.logf("yardstick: OpenSSL and Go RSA-2048 signing on the IdP's CPU")
		y, err := b.machineYardstick(ctx)
		b.report.Yardstick = y
		if err != nil {
			return err
		}
	} else {
		b.report.Yardstick = yardstick{Missing: "-yardstick=false"}
	}
	b.logf("slapd: loading %d users", b.o.users)
	sl, err := startSlapd(ctx, filepath.Join(b.dir, "slapd"), b.o.users, b.peerCPUs)
	if err != nil {
		return err
	}
	defer sl.stop()
	for _, mode := range b.o.modes {
		if err := b.ourCells(ctx, sl, mode, b.o.users, b.o.concurrency); err != nil {
			return err
		}
	}
	if b.o.sessions > 0 || b.o.soak > 0 {
		if err := b.memory(ctx, sl); err != nil {
			return err
		}
	}
	if b.o.compare {
		if err := b.compareSSP(ctx, sl); err != nil {
			return err
		}
	}
	top := slices.Max(b.o.concurrency)
	for _, n := range b.o.scale {
		b.logf("slapd: loading %d users", n)
		s2, err := startSlapd(ctx, filepath.Join(b.dir, fmt.Sprintf("slapd-%d", n)), n, b.peerCPUs)
		if err != nil {
			return err
		}
		for _, mode := range []string{"oauth", "saml"} {
			if err := b.ourCells(ctx, s2, mode, n, []int{top}); err != nil {
				s2.stop()
				return err
			}
		}
		s2.stop()
	}
	return nil
}

// ourCells starts a fresh IdP (cold start measured) and runs mode at each
// concurrency.
func (b *bench) ourCells(ctx context.Context, sl *slapd, mode string, users int, conc []int) error {
	idp, err := b.startOurs(ctx, sl, mode == "saml1", false)
	if err != nil {
		return err
	}
	defer idp.stop()
	b.report.coldStarts = append(b.report.coldStarts, ms(idp.ColdStart))
	b.logf("ours %s: ready in %.0f ms", mode, ms(idp.ColdStart))
	top := slices.Max(conc)
	for _, c := range conc {
		j := b.ourJourney(idp, mode, c)
		cc := cellConfig{concurrency: c, warmup: b.o.warmup, duration: b.o.duration,
			users: users, verifyEvery: b.o.verifyEvery, metrics: idp.metrics(ctx)}
		var profiled chan error
		if b.o.profile != "" && c == top {
			profiled = make(chan error, 1)
			path := filepath.Join(b.o.profile, fmt.Sprintf("%s-%s-%d-c%d.pprof", b.report.Started.Format("2006-01-02T1504"), mode, users, c))
			cc.atWindow = func() {
				profiled <- fetchProfile(ctx, idp.pprofAddr, max64(b.o.duration-time.Second, time.Second), path)
				b.logf("profile: %s", path)
			}
		}
		// The probe runs in every cell: in the SAML cells it is the
		// signing cost, in the others a gauge of this VM's speed in that
		// window (its speed moves by half within minutes).
		signing := make(chan error, 1)
		var signingMs float64
		cc.atWindow = both(cc.atWindow, func() {
			var err error
			signingMs, err = b.signingProbe(ctx, b.o.duration)
			signing <- err
		})
		r := runCell(ctx, j, cc, watched{idp: idp.pid(), slapd: sl.pid()})
		if err := <-signing; err != nil {
			return err
		}
		r.SigningMs = signingMs
		if profiled != nil {
			if err := <-profiled; err != nil {
				return err
			}
		}
		r.Target, r.Mode = "ours", mode
		b.logf("%s", r.summary())
		b.report.add(r)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if mode == "oauth" && users == b.o.users && b.o.paced > 0 {
		return b.pacedCell(ctx, sl, idp, users, top)
	}
	return nil
}

// pacedCell runs OAuth at the top concurrency again, paced to -paced of
// the best rate just measured: the back channel's latency at a load the
// IdP sustains, beside the saturated cells' (where every request also
// waits for the processor behind the others).
func (b *bench) pacedCell(ctx context.Context, sl *slapd, idp *ourIdP, users, top int) error {
	best := 0.0
	for _, r := range b.report.Cells {
		if r.Target == "ours" && r.Mode == "oauth" && r.Users == users {
			best = maxf(best, r.LoginsPerSec)
		}
	}
	if best == 0 {
		return nil
	}
	cc := cellConfig{concurrency: top, warmup: b.o.warmup, duration: b.o.duration, users: users, rate: best * b.o.paced,
		metrics: idp.metrics(ctx)}
	r := runCell(ctx, b.ourJourney(idp, "oauth", top), cc, watched{idp: idp.pid(), slapd: sl.pid()})
	r.Target, r.Mode, r.PacedRate = "ours", modePaced, cc.rate
	b.logf("%s (paced at %.0f logins/s, %.0f%% of %.0f)", r.summary(), cc.rate, b.o.paced*100, best)
	b.report.add(r)
	return ctx.Err()
}

// both runs f in a goroutine of its own and g; either may be nil.
func both(f, g func()) func() {
	return func() {
		if f != nil {
			go f()
		}
		if g != nil {
			g()
		}
	}
}

// signatures is how many RSA signatures a login of mode makes (0: not a
// SAML mode).
func signatures(mode string) int {
	switch mode {
	case "saml":
		return 2
	case "saml1":
		return 1
	}
	return 0
}

// modePaced names the paced OAuth cell in the report.
const modePaced = "oauth-paced"

func (b *bench) startOurs(ctx context.Context, sl *slapd, oneSignature, steady bool) (*ourIdP, error) {
	o := idpOptions{bin: b.o.bin, dir: filepath.Join(b.dir, "ours"), cpus: b.idpCPUs,
		ldapURL: sl.URL, keyFile: b.keyFile, certFile: b.certFile, poolSize: b.o.poolSize, browserConc: b.o.browserConc,
		oneSignature: oneSignature, logLevel: b.o.logLevel, store: b.o.store, steady: steady}
	if b.o.profile != "" {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		o.pprofAddr = fmt.Sprintf("127.0.0.1:%d", port)
		if err := os.MkdirAll(b.o.profile, 0o755); err != nil {
			return nil, err
		}
	}
	idp, err := startOurs(ctx, o)
	if idp != nil {
		idp.pprofAddr = o.pprofAddr
	}
	return idp, err
}

func (b *bench) ourJourney(idp *ourIdP, mode string, conc int) journey {
	tr := transport(conc)
	switch mode {
	case "oauth":
		return oauthJourney(idp.URL, tr)
	case "oauth-sso":
		return oauthSSOJourney(idp.URL, tr, conc)
	}
	return samlJourney(samlIdP{ssoURL: idp.URL + "/saml/sso", entityID: idp.EntityID, cert: b.cert}, tr)
}

// memory fills the IdP with live SSO sessions, reads its RSS, then soaks
// at a fraction of the maximum OAuth rate and samples RSS.
func (b *bench) memory(ctx context.Context, sl *slapd) error {
	idp, err := b.startOurs(ctx, sl, false, false)
	if err != nil {
		return err
	}
	defer func() { idp.stop() }() // the soak's IdP, once it replaces this one
	w := watched{idp: idp.pid(), slapd: sl.pid()}
	top := slices.Max(b.o.concurrency)
	m := &b.report.Memory
	m.Sessions = b.o.sessions
	if b.o.sessions > 0 {
		b.logf("memory: creating %d SSO sessions", b.o.sessions)
		j := oauthJourney(idp.URL, transport(top))
		start := time.Now()
		done := make(chan struct{})
		cctx, cancel := context.WithCancel(ctx)
		var r cellResult
		go func() {
			defer close(done)
			r = runCell(cctx, j, cellConfig{concurrency: top, duration: 30 * time.Minute, users: b.o.users,
				sampleEvery: 200 * time.Millisecond, sample: func(_ time.Duration, n int64) {
					if n >= int64(b.o.sessions) {
						cancel()
					}
				}}, w)
		}()
		<-done
		cancel()
		m.SessionsCreated = r.Logins
		m.FillSeconds = time.Since(start).Seconds()
		time.Sleep(2 * time.Second) // let the server go idle
		m.RSSKB, m.AnonKB = rssKB(idp.pid())
		m.FileKB = fileRSSKB(idp.pid())
		b.logf("memory: %d sessions, RSS %d KiB (anonymous %d KiB)", r.Logins, m.RSSKB, m.AnonKB)
	}
	if b.o.soak <= 0 {
		return nil
	}
	max := 0.0
	for _, r := range b.report.Cells {
		if r.Target == "ours" && r.Mode == "oauth" && r.Users == b.o.users {
			max = maxf(max, r.LoginsPerSec)
		}
	}
	if max == 0 {
		return fmt.Errorf("idpbench: -soak needs the oauth mode measured first")
	}
	m.SoakRate = max * b.o.soakFraction
	m.SoakSeconds = b.o.soak.Seconds()
	// A fresh IdP whose records live a minute: after the first minutes
	// records expire as fast as logins create them, so RSS that still
	// grows is a leak.
	idp.stop()
	if idp, err = b.startOurs(ctx, sl, false, true); err != nil {
		return err
	}
	w = watched{idp: idp.pid(), slapd: sl.pid()}
	b.logf("soak: %.0f logins/s for %s (%s)", m.SoakRate, b.o.soak, steadyLifetimes)
	every := max64(b.o.soak/20, time.Second)
	r := runCell(ctx, oauthJourney(idp.URL, transport(top)), cellConfig{concurrency: top, duration: b.o.soak,
		users: b.o.users, rate: m.SoakRate, sampleEvery: every, sample: func(el time.Duration, n int64) {
			rss, anon := rssKB(idp.pid())
			m.Samples = append(m.Samples, rssSample{Seconds: el.Seconds(), Logins: n, RSSKB: rss, AnonKB: anon})
		}}, w)
	r.Target, r.Mode = "ours", "oauth-soak"
	m.Soak = &r
	b.logf("%s", r.summary())
	return nil
}

func maxf(a, b float64) float64 {
	if a > b {
		return a
	}
	return b
}

func max64(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}
