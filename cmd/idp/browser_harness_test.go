package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/security"
	"github.com/chromedp/chromedp"
)

// The browser harness: Debian's Chromium (never a downloaded browser),
// headless, driven over the DevTools protocol by chromedp. Every tab records
// what a person would notice or a reviewer would flag: console errors,
// uncaught exceptions, failed sub-requests, plain-http (mixed content) and
// third-party requests. A tab's test fails on any of them.

// chromiumPath finds Debian's chromium. Missing, the test fails under CI or
// IDP_REQUIRE_PEERS and is skipped otherwise.
func chromiumPath(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"chromium", "/usr/bin/chromium"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" || os.Getenv("IDP_REQUIRE_PEERS") != "" {
		t.Fatal("chromium is required for the browser tests (apt-get install chromium)")
	}
	t.Skip("chromium not installed (apt-get install chromium)")
	return ""
}

// testTLS is one throw-away certificate for 127.0.0.1, served by the IdP and
// the SP simulator alike. Chromium trusts exactly its public key (and no
// other bad certificate) through --ignore-certificate-errors-spki-list.
type testTLS struct {
	cert tls.Certificate
	leaf *x509.Certificate
	pool *x509.CertPool
	spki string // base64 SHA-256 of the SubjectPublicKeyInfo
}

func newTestTLS(t testing.TB) *testTLS {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return &testTLS{
		cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		leaf: leaf, pool: pool, spki: base64.StdEncoding.EncodeToString(sum[:]),
	}
}

// startChromium launches one headless Chromium for a test and returns its
// context; tabs are opened from it, each in a fresh browser context (its own
// cookies), so journeys never share a session by accident.
func startChromium(t *testing.T, trust *testTLS) context.Context {
	t.Helper()
	bin := chromiumPath(t)
	profile := t.TempDir()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(profile),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("lang", "ko-KR"),
		// Trust the test certificate's key only; every other certificate
		// error still fails (Chromium honours this flag only with a
		// --user-data-dir).
		chromedp.Flag("ignore-certificate-errors-spki-list", trust.spki),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// viewport is a device a journey runs on.
type viewport struct {
	name          string
	width, height int64
	scale         float64
	mobile        bool
	userAgent     string
}

var (
	phone = viewport{name: "phone", width: 390, height: 844, scale: 2, mobile: true,
		userAgent: "Mozilla/5.0 (Linux; Android 14; SM-S921N) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36"}
	desktop = viewport{name: "desktop", width: 1280, height: 800, scale: 1,
		userAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"}
	viewports = []viewport{phone, desktop}
)

// tab is one browser tab in its own browser context, recording problems.
type tab struct {
	t       *testing.T
	ctx     context.Context
	rec     *recorder
	vp      viewport
	shotDir string
	// scriptsOff: the page's JavaScript is disabled (a no-JS journey).
	scriptsOff bool
}

// newTab opens a tab at vp with the given Accept-Language; requests to any
// origin other than allowed (and data: URLs) are third-party and fail the test.
func newTab(t *testing.T, browser context.Context, vp viewport, lang string, allowed ...string) *tab {
	t.Helper()
	rec := &recorder{allowed: allowed}
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext(), chromedp.WithListener(rec.event))
	t.Cleanup(cancel)
	// The first run opens the tab and binds it to ctx: it must not carry
	// a per-step timeout, which would close the tab when it ends.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	tb := &tab{t: t, ctx: ctx, rec: rec, vp: vp, shotDir: screenshotDir(t)}
	vopts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(vp.scale)}
	if vp.mobile {
		vopts = append(vopts, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	tb.do(chromedp.EmulateViewport(vp.width, vp.height, vopts...))
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	if _, err := chromedp.Call(cctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{
		UserAgent: vp.userAgent, AcceptLanguage: lang,
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, p := range rec.problems() {
			t.Errorf("browser: %s", p)
		}
	})
	return tb
}

// do runs actions with a per-step time limit.
func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.t.Fatalf("browser: %v (at %s)", err, tb.url())
	}
}

func runIn[T any](tb *tab, a chromedp.Action[T]) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		tb.t.Fatalf("browser: %v (at %s)", err, tb.url())
	}
	return v
}

// open navigates and returns the HTTP status of the document.
func (tb *tab) open(u string) int64 {
	tb.t.Helper()
	resp := runIn(tb, chromedp.NavigateResponse(u))
	return resp.Status
}

// submit runs a step that navigates (a click, Enter) and waits for the
// resulting document, returning its status.
func (tb *tab) submit(step chromedp.Action[chromedp.Void]) int64 {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, step)
	if err != nil {
		tb.t.Fatalf("browser: %v (at %s)", err, tb.url())
	}
	return resp.Status
}

// waitURL waits until the tab's document URL starts with one of prefixes
// (for navigations the page makes itself, such as the SAML auto-POST).
func (tb *tab) waitURL(prefixes ...string) {
	tb.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !hasAnyPrefix(tb.url(), prefixes) {
		if time.Now().After(deadline) {
			tb.t.Fatalf("browser: never reached %s (at %s)", strings.Join(prefixes, " or "), tb.url())
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.do(chromedp.WaitReady(chromedp.CSS("body")))
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func (tb *tab) url() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	u, _ := chromedp.Run(ctx, chromedp.Location())
	return u
}

func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return runIn(tb, chromedp.Text(chromedp.CSS(sel)))
}

func (tb *tab) value(sel string) string {
	tb.t.Helper()
	return runIn(tb, chromedp.Value(chromedp.CSS(sel)))
}

func (tb *tab) title() string {
	tb.t.Helper()
	return runIn(tb, chromedp.Title())
}

func (tb *tab) eval(js string) string {
	tb.t.Helper()
	return runIn(tb, chromedp.Evaluate[string](js))
}

// has reports whether a selector matches a rendered, visible element.
func (tb *tab) visible(sel string) bool {
	tb.t.Helper()
	return runIn(tb, chromedp.Evaluate[bool](fmt.Sprintf(
		`(function(){var e=document.querySelector(%q);if(!e)return false;var r=e.getBoundingClientRect();return r.width>0&&r.height>0&&getComputedStyle(e).visibility!=="hidden"})()`, sel)))
}

// screenshot saves the viewport as <name>-<viewport>.png.
func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	png := runIn(tb, chromedp.CaptureScreenshot())
	file := filepath.Join(tb.shotDir, name+"-"+tb.vp.name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

// screenshotDir is IDP_SCREENSHOT_DIR (kept, `make screenshots`) or a
// directory removed after the test.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("IDP_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// page is one document load as the network saw it.
type pageLoad struct {
	url      string
	requests []string // every URL requested while this document was current
	bytes    int64    // encoded bytes received for them
}

// recorder collects what happens in a tab. Its event func runs in the tab's
// event loop: it only records.
type recorder struct {
	allowed []string

	mu       sync.Mutex
	errs     []string
	docs     map[network.RequestID]string // document requests
	docBad   map[string]bool              // documents answered with an error status on purpose
	reqURL   map[network.RequestID]string
	loads    []pageLoad
	answered []string // document URLs answered with a page (not a redirect)
	navCount int
}

func (r *recorder) event(ev any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.docs == nil {
		r.docs, r.docBad, r.reqURL = map[network.RequestID]string{}, map[string]bool{}, map[network.RequestID]string{}
	}
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert || ev.Type == runtime.ConsoleAPICalledTypeWarning {
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			r.errs = append(r.errs, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(parts, " ")))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		r.errs = append(r.errs, fmt.Sprintf("uncaught exception at %s: %s", d.URL, msg))
	case *cdplog.EventEntryAdded:
		e := ev.Entry
		if e.Level != cdplog.EntryLevelError && e.Level != cdplog.EntryLevelWarning {
			return
		}
		// A document we asked for and that answers 4xx/5xx on purpose
		// (an error page) is logged by Chromium as a failed resource.
		if e.Source == cdplog.EntrySourceNetwork && r.docBad[e.URL] {
			return
		}
		r.errs = append(r.errs, fmt.Sprintf("console %s (%s): %s %s", e.Level, e.Source, e.Text, e.URL))
	case *network.EventRequestWillBeSent:
		u := ev.Request.URL
		r.reqURL[ev.RequestID] = u
		if ev.Type == network.ResourceTypeDocument {
			r.docs[ev.RequestID] = u
			r.loads = append(r.loads, pageLoad{url: u})
		}
		if len(r.loads) > 0 {
			l := &r.loads[len(r.loads)-1]
			l.requests = append(l.requests, u)
		}
		if strings.HasPrefix(u, "data:") {
			return
		}
		if strings.HasPrefix(u, "http:") {
			r.errs = append(r.errs, "plain-http (mixed content) request: "+u)
		}
		if ev.Request.MixedContentType != "" && ev.Request.MixedContentType != security.MixedContentTypeNone {
			r.errs = append(r.errs, fmt.Sprintf("mixed content (%s): %s", ev.Request.MixedContentType, u))
		}
		if !r.allowedOrigin(u) {
			r.errs = append(r.errs, "third-party request: "+u)
		}
	case *network.EventResponseReceived:
		if ev.Type == network.ResourceTypeDocument {
			// Redirects arrive with the next request, never here.
			r.answered = append(r.answered, ev.Response.URL)
			if ev.Response.Status >= 400 {
				r.docBad[ev.Response.URL] = true
			}
			return
		}
		if ev.Response.Status >= 400 {
			r.errs = append(r.errs, fmt.Sprintf("sub-request failed: %d %s", ev.Response.Status, ev.Response.URL))
		}
	case *network.EventLoadingFinished:
		if len(r.loads) > 0 {
			r.loads[len(r.loads)-1].bytes += int64(ev.EncodedDataLength)
		}
	case *network.EventLoadingFailed:
		if ev.Canceled && r.docs[ev.RequestID] != "" {
			return // a navigation superseded by the next one
		}
		r.errs = append(r.errs, fmt.Sprintf("request failed (%s): %s", ev.ErrorText, r.reqURL[ev.RequestID]))
	}
}

func (r *recorder) allowedOrigin(u string) bool {
	origin := originOf(u)
	for _, a := range r.allowed {
		if origin == a {
			return true
		}
	}
	return false
}

func (r *recorder) problems() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// lastLoad returns the network record of the newest document whose URL
// matches re.
func (r *recorder) lastLoad(re *regexp.Regexp) (pageLoad, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.loads) - 1; i >= 0; i-- {
		if re.MatchString(r.loads[i].url) {
			l := r.loads[i]
			l.requests = append([]string(nil), l.requests...)
			return l, true
		}
	}
	return pageLoad{}, false
}

// pages lists the URL of every document that answered with a page rather
// than a redirect, in order.
func (r *recorder) pages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.answered...)
}

// documents lists every document URL the tab loaded, in order.
func (r *recorder) documents() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range r.loads {
		out = append(out, l.url)
	}
	return out
}
