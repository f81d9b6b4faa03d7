package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/chromedp"
)

// Accessibility and page-quality checks run inside the journeys: axe-core
// (from the npm registry, installed by `make test`) finds no serious or
// critical violation; the accessibility tree names each control as a
// screen reader reads it; the login page is one small same-origin response.

// AxeVersion is the axe-core release the Makefile installs.
const axeVersion = "4.14.1"

var (
	axeOnce sync.Once
	axeSrc  string
	axeErr  error
)

// axeFile is where `make test` puts axe.min.js: IDP_AXE_JS, or the
// Makefile's default cache directory.
func axeFile() string {
	if f := os.Getenv("IDP_AXE_JS"); f != "" {
		return f
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "idp-test", "axe-core-"+axeVersion, "node_modules", "axe-core", "axe.min.js")
}

func loadAxe(t *testing.T) (string, bool) {
	t.Helper()
	axeOnce.Do(func() {
		var b []byte
		b, axeErr = os.ReadFile(axeFile())
		axeSrc = string(b)
	})
	if axeErr != nil {
		if os.Getenv("CI") != "" || os.Getenv("IDP_REQUIRE_PEERS") != "" {
			t.Fatalf("axe-core is required (make test installs it with npm): %v", axeErr)
		}
		t.Logf("axe-core not installed, accessibility scan skipped (run make test-deps): %v", axeErr)
		return "", false
	}
	return axeSrc, true
}

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// axeCheck runs axe-core on the current page (WCAG 2.x A and AA rules and
// best practices) and fails on any serious or critical violation.
func (tb *tab) axeCheck(page string) {
	tb.t.Helper()
	src, ok := loadAxe(tb.t)
	if !ok {
		return
	}
	// Evaluated over DevTools: the page's CSP (nonce scripts only) stays on.
	if !runIn(tb, chromedp.Evaluate[bool](`typeof axe === "object"`)) {
		tb.do(chromedp.Evaluate[chromedp.Void](src))
	}
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ["violations"]}).then(function (r) {
		return JSON.stringify(r.violations.map(function (v) {
			return {id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(function (n) { return n.target.join(" "); })};
		}));
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("axe on %s: %v", page, err)
	}
	var vs []axeViolation
	if err := json.Unmarshal([]byte(raw), &vs); err != nil {
		tb.t.Fatalf("axe result: %v", err)
	}
	for _, v := range vs {
		msg := fmt.Sprintf("axe on %s page (%s): %s %s — %s at %v", page, tb.vp.name, v.Impact, v.ID, v.Help, v.Nodes)
		if v.Impact == "serious" || v.Impact == "critical" {
			tb.t.Error(msg)
		} else {
			tb.t.Log(msg)
		}
	}
}

// axNames lists "role: name" for every control and landmark a screen
// reader announces, from Chromium's own accessibility tree.
func (tb *tab) axNames() []string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	res, err := chromedp.Call(ctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	if err != nil {
		tb.t.Fatal(err)
	}
	var out []string
	for _, n := range res.Nodes {
		if n.Ignored || n.Role == nil || n.Name == nil {
			continue
		}
		var role, name string
		_ = json.Unmarshal(n.Role.Value, &role)
		_ = json.Unmarshal(n.Name.Value, &name)
		switch role {
		case "textbox", "button", "link", "heading", "main", "alert", "status", "contentinfo", "navigation":
			out = append(out, role+": "+strings.TrimSpace(name))
		}
	}
	return out
}

// axDescription returns the accessible description of the element with id.
func (tb *tab) axDescription(id string) string {
	tb.t.Helper()
	return tb.eval(fmt.Sprintf(`(function(){var e=document.getElementById(%q);var ids=(e.getAttribute("aria-describedby")||"").split(/\s+/);return ids.map(function(i){var d=document.getElementById(i);return d?d.textContent.trim():""}).filter(Boolean).join(" ")})()`, id))
}

func (tb *tab) wantNames(want ...string) {
	tb.t.Helper()
	got := tb.axNames()
	for _, w := range want {
		found := false
		for _, g := range got {
			if g == w {
				found = true
			}
		}
		if !found {
			tb.t.Errorf("accessibility tree (%s) lacks %q; it has %q", tb.vp.name, w, got)
		}
	}
}

// activeID is the id of the focused element.
func (tb *tab) activeID() string {
	tb.t.Helper()
	return tb.eval(`document.activeElement ? (document.activeElement.id || document.activeElement.tagName) : ""`)
}

// wantLoginPageLight checks the page the employee waits for, as first
// served in answer to the SP's login request (at, e.g.
// idpURL+"/oauth/authorize?"): one HTML response (plus same-origin assets,
// if any) under 100 KB, nothing from another site.
func (tb *tab) wantLoginPageLight(at string) {
	tb.t.Helper()
	idpURL := originOf(at)
	load, ok := tb.rec.lastLoad(regexp.MustCompile("^" + regexp.QuoteMeta(at)))
	if !ok {
		tb.t.Fatalf("no load of the login page at %s recorded: %v", at, tb.rec.documents())
	}
	for _, u := range load.requests {
		if !strings.HasPrefix(u, idpURL+"/") && !strings.HasPrefix(u, "data:") {
			tb.t.Errorf("login page requested %s (only same-origin assets are allowed)", u)
		}
	}
	if len(load.requests) != 1 {
		tb.t.Errorf("login page made %d requests, want a single HTML response: %v", len(load.requests), load.requests)
	}
	tb.t.Logf("login page (%s): %d request(s), %d bytes on the wire", tb.vp.name, len(load.requests), load.bytes)
	if load.bytes <= 0 || load.bytes > 100<<10 {
		tb.t.Errorf("login page weighs %d bytes on the wire, want (0, 100 KB]", load.bytes)
	}
}
