package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

type rssSample struct {
	Seconds float64 `json:"seconds"`
	Logins  int64   `json:"logins"`
	RSSKB   int64   `json:"rss_kb"`
	AnonKB  int64   `json:"rss_anon_kb"`
}

// memoryResult is the sessions and soak part.
type memoryResult struct {
	Sessions        int     `json:"sessions_target"`
	SessionsCreated int64   `json:"sessions_created"`
	FillSeconds     float64 `json:"fill_seconds"`
	RSSKB           int64   `json:"rss_kb"`
	AnonKB          int64   `json:"rss_anon_kb"`
	// FileKB is the resident part of each mapped file (binary, bbolt).
	FileKB      map[string]int64 `json:"rss_file_kb,omitempty"`
	SoakRate    float64          `json:"soak_rate"`
	SoakSeconds float64          `json:"soak_seconds"`
	Samples     []rssSample      `json:"soak_samples,omitempty"`
	Soak        *cellResult      `json:"soak,omitempty"`
}

// report is everything written to bench/results.
type report struct {
	Started    time.Time         `json:"started"`
	Finished   time.Time         `json:"finished"`
	Host       string            `json:"host"`
	Machine    map[string]string `json:"machine"`
	Versions   map[string]string `json:"versions"`
	Command    string            `json:"command"`
	Pinning    string            `json:"pinning"`
	Store      string            `json:"idp_store"`
	LoadBefore string            `json:"loadavg_before"`
	LoadAfter  string            `json:"loadavg_after"`
	ColdStarts []float64         `json:"cold_start_ms"`
	Yardstick  yardstick         `json:"machine_yardstick"`
	Cells      []cellResult      `json:"cells"`
	Memory     memoryResult      `json:"memory"`
	Error      string            `json:"error,omitempty"`
	coldStarts []float64
	bin        string
}

func newReport(o options, idpCPUs, peerCPUs string) *report {
	r := &report{Machine: map[string]string{}, Versions: map[string]string{}, bin: o.bin, Store: o.store}
	r.Host, _ = os.Hostname()
	r.Command = "idpbench " + strings.Join(os.Args[1:], " ")
	r.Pinning = "none (fewer than 2 CPUs or -pin=false)"
	if idpCPUs != "" {
		r.Pinning = fmt.Sprintf("IdP under test on CPU %s; slapd and the generator on CPU %s (taskset)", idpCPUs, peerCPUs)
	}
	return r
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

func cmdOut(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return "unavailable"
	}
	return firstLine(out)
}

func (r *report) start() {
	r.Started = time.Now()
	r.LoadBefore = loadavg()
	r.Machine["cpus"] = fmt.Sprint(runtime.NumCPU())
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				r.Machine["cpu_model"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		r.Machine["memory"] = strings.Join(strings.Fields(firstLine(b))[1:], " ")
	}
	r.Machine["kernel"] = cmdOut("uname", "-sr")
	r.Versions["go (generator)"] = runtime.Version()
	r.Versions["idp"] = cmdOut(r.bin, "version")
	r.Versions["slapd"] = cmdOut("dpkg-query", "-W", "-f=${Version}", "slapd")
}

func (r *report) finish() {
	r.Finished = time.Now()
	r.LoadAfter = loadavg()
	r.ColdStarts = r.coldStarts
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func (r *report) add(c cellResult) { r.Cells = append(r.Cells, c) }

func (c cellResult) summary() string {
	l := c.Steps["login"]
	return fmt.Sprintf("%-5s %-6s users=%-6d c=%-3d %7.1f logins/s  login p50 %6.1f p99 %6.1f ms  errors %d  IdP %.2f ms CPU/login  slapd %.2f  generator %.2f",
		c.Target, c.Mode, c.Users, c.Concurrency, c.LoginsPerSec, l.P50, l.P99, c.Errors, c.IdPCPUms, c.SlapdCPUms, c.GenCPUms)
}

// write prints the Markdown report and saves it with the JSON next to it.
func (r *report) write(stdout io.Writer, dir string) error {
	md := r.markdown()
	fmt.Fprintln(stdout, md)
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	base := filepath.Join(dir, r.Started.Format("2006-01-02T1504")+"-"+r.Host)
	js, _ := json.MarshalIndent(r, "", "  ")
	if err := os.WriteFile(base+".json", js, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(base+".md", []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "written: %s.md, %s.json\n", base, base)
	return nil
}

func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# idpbench %s on %s\n\n", r.Started.Format("2006-01-02 15:04"), r.Host)
	fmt.Fprintf(&b, "- command: `%s`\n- machine: %s CPUs (%s), %s, %s\n- pinning: %s\n- our IdP's store: %s\n- load average before / after: %s / %s\n",
		r.Command, r.Machine["cpus"], r.Machine["cpu_model"], r.Machine["memory"], r.Machine["kernel"], r.Pinning, r.Store, r.LoadBefore, r.LoadAfter)
	for _, k := range sortedKeys(r.Versions) {
		fmt.Fprintf(&b, "- %s: %s\n", k, r.Versions[k])
	}
	fmt.Fprintf(&b, "- cold start to /readyz 200 (ms, each IdP start): %v\n", fmtList(r.ColdStarts))
	b.WriteString(r.Yardstick.markdown())
	if r.Error != "" {
		fmt.Fprintf(&b, "- **stopped early**: %s\n", r.Error)
	}
	b.WriteString("\n")
	b.WriteString("| target | mode | users | conc | logins/s | errors | IdP CPU ms/login | slapd CPU ms/login | generator CPU ms/login | IdP cores busy | IdP RSS MiB | IdP KB allocated/login | RSA-2048 signing ms on the IdP's CPU (the VM's speed) | step p50 / p90 / p99 ms |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range r.Cells {
		var steps []string
		for _, n := range c.StepOrder {
			p := c.Steps[n]
			steps = append(steps, fmt.Sprintf("%s %.1f / %.1f / %.1f", n, p.P50, p.P90, p.P99))
		}
		alloc := "-"
		if c.IdPAllocKB > 0 {
			alloc = fmt.Sprintf("%.0f", c.IdPAllocKB)
		}
		speed := "-"
		if c.SigningMs > 0 {
			speed = fmt.Sprintf("%.2f", c.SigningMs)
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %.0f | %d | %.2f | %.2f | %.2f | %.2f | %.1f | %s | %s | %s |\n", c.Target, c.Mode, c.Users, c.Concurrency,
			c.LoginsPerSec, c.Errors, c.IdPCPUms, c.SlapdCPUms, c.GenCPUms, c.IdPCPUUtil, float64(c.IdPRSSKB)/1024, alloc, speed, strings.Join(steps, "; "))
	}
	for _, c := range r.Cells {
		for _, e := range c.ErrorSamples {
			fmt.Fprintf(&b, "\nerror sample (%s %s c=%d): %s", c.Target, c.Mode, c.Concurrency, e)
		}
	}
	b.WriteString("\n")
	if tu := r.tokenUserinfo(); tu != "" {
		b.WriteString(tu)
	}
	b.WriteString(r.beyondSigning())
	b.WriteString(r.comparison())
	m := r.Memory
	if m.Sessions > 0 {
		var files []string
		for path, kb := range m.FileKB {
			files = append(files, fmt.Sprintf("%s %.1f MiB", filepath.Base(path), float64(kb)/1024))
		}
		slices.Sort(files)
		fmt.Fprintf(&b, "\n## Memory\n\n- %d live SSO sessions (created in %.0f s): IdP RSS %.1f MiB: anonymous %.1f MiB; mapped files %s\n",
			m.SessionsCreated, m.FillSeconds, float64(m.RSSKB)/1024, float64(m.AnonKB)/1024, strings.Join(files, ", "))
	}
	if m.Soak != nil {
		fmt.Fprintf(&b, "- soak (%s, so live records level off after about two minutes): %.0f s at %.0f logins/s target (%.0f achieved, %d errors); RSS MiB (anonymous) over time:", steadyLifetimes, m.SoakSeconds, m.SoakRate, m.Soak.LoginsPerSec, m.Soak.Errors)
		for _, s := range m.Samples {
			fmt.Fprintf(&b, " %.0fs:%.1f (%.1f)", s.Seconds, float64(s.RSSKB)/1024, float64(s.AnonKB)/1024)
		}
		b.WriteString("\n")
		for _, e := range m.Soak.ErrorSamples {
			fmt.Fprintf(&b, "- soak error sample: %s\n", e)
		}
	}
	return b.String()
}

// referenceSigningMs is the signing time per RSA-2048 signature
// (Go's crypto/rsa, one core of the reference machine).
const referenceSigningMs = 1.1

// beyondSigning sets our SAML cells' IdP CPU per login against the RSA
// signing cost: probed on the IdP's CPU around each cell, and as the IdP
// measured its own signatures.
func (r *report) beyondSigning() string {
	var b strings.Builder
	for _, c := range r.Cells {
		if c.Target != "ours" || c.SigningMs == 0 || signatures(c.Mode) == 0 {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("\n## SAML against the signing cost\n\nRSA-2048 signing CPU time per signature, two ways. Probe: on the IdP's CPU during the window, a probe beside the IdP with the same key and crypto/rsa, one signature every 100 ms, timed in its thread's CPU time. Inside: the IdP's own signatures, each timed in the CPU time of the thread that made it (idp_saml_signing_cpu_seconds_total / idp_saml_signatures_timed_total over the window: the first signature, then one in 16, is timed). Beyond signing = IdP CPU per login - signatures x signing time. The issue's target is 0.5 ms beyond signing on a machine that signs in 1.1 ms; the next column scales the inside figure to that speed (x 1.1 / inside signing ms), since everything else slows down with the signing when this VM slows down. The last column scales it instead to the reference machine's speed as OpenSSL measures it (the machine yardstick above: x the reference machine's time per signature with this Go / inside signing ms); the issue's 1.1 ms does not name its Go release, and Go's RSA speed moves between releases.\n\n| mode | users | conc | IdP CPU ms/login | signatures | signing ms: probe / inside | beyond signing ms: probe / inside | inside, at 1.1 ms signing | inside, at the reference machine's speed (OpenSSL) |\n|---|---|---|---|---|---|---|---|---|\n")
		}
		n := float64(signatures(c.Mode))
		beyond := c.IdPCPUms - n*c.SigningMs
		inside, beyondInside, scaled, atReference := "-", "-", "-", "-"
		if c.SigningInsideMs > 0 {
			bi := c.IdPCPUms - n*c.SigningInsideMs
			inside, beyondInside = fmt.Sprintf("%.2f", c.SigningInsideMs), fmt.Sprintf("%.2f", bi)
			scaled = fmt.Sprintf("%.2f", bi*referenceSigningMs/c.SigningInsideMs)
			if r.Yardstick.ReferenceGoMs > 0 {
				atReference = fmt.Sprintf("%.2f", bi*r.Yardstick.ReferenceGoMs/c.SigningInsideMs)
			}
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %.2f | %.0f | %.2f / %s | %.2f / %s | %s | %s |\n", c.Mode, c.Users, c.Concurrency, c.IdPCPUms, n, c.SigningMs, inside, beyond, beyondInside, scaled, atReference)
	}
	return b.String()
}

// tokenUserinfo is the SP's back-channel latency at each concurrency.
func (r *report) tokenUserinfo() string {
	var b strings.Builder
	for _, c := range r.Cells {
		if c.Mode != "oauth" && c.Mode != "oauth-sso" && c.Mode != modePaced {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("\n## OAuth back channel (the SP's 1 s connect / 3 s read budget)\n\noauth: during password logins, closed loop (the IdP's processor is saturated, so every call also waits behind the others); oauth-paced: the same at the top concurrency, paced to a fraction (-paced) of the best oauth rate; oauth-sso: signed-in employees, so the IdP's CPU goes to the back channel and the code. Inside the IdP: from its request-duration histogram (router to handler return), the bucket bound within which 99 % of the calls were answered and the share answered within 5 ms; the rest of the generator's time is spent before the IdP's Go runtime reads the request (on a saturated processor it polls the network only when a processor runs out of work, or every 10 ms, unless the back-channel watcher wakes the request first).\n\n| mode | users | conc | token p50 / p99 ms | userinfo p50 / p99 ms | inside the IdP: token, userinfo p99 ≤ ms (within 5 ms) |\n|---|---|---|---|---|---|\n")
		}
		tk, ui := c.Steps["token"], c.Steps["userinfo"]
		mode := c.Mode
		if c.PacedRate > 0 {
			mode = fmt.Sprintf("%s (%.0f logins/s)", c.Mode, c.PacedRate)
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %.1f / %.1f | %.1f / %.1f | %s |\n", mode, c.Users, c.Concurrency, tk.P50, tk.P99, ui.P50, ui.P99, insideIdP(c.ServerSide))
	}
	return b.String()
}

// insideIdP formats the token and userinfo calls' time inside the IdP.
func insideIdP(s map[string]serverSide) string {
	var parts []string
	for _, route := range []string{"/oauth/token", "/oauth/userinfo"} {
		v, ok := s[route]
		if !ok {
			parts = append(parts, "-")
			continue
		}
		parts = append(parts, fmt.Sprintf("%g (%.1f %%)", v.P99AtMostMs, v.Within5ms*100))
	}
	return strings.Join(parts, ", ")
}

func fmtList(v []float64) string {
	var s []string
	for _, x := range v {
		s = append(s, fmt.Sprintf("%.0f", x))
	}
	return strings.Join(s, ", ")
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
