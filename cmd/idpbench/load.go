package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// cellConfig is one measured run.
type cellConfig struct {
	concurrency int
	warmup      time.Duration
	duration    time.Duration
	users       int
	// verifyEvery verifies one Response in that many (0: never).
	verifyEvery int
	// rate, when > 0, paces logins to that many per second (open loop,
	// at most concurrency in flight); 0 runs closed loop.
	rate float64
	// sample, when set, is called every sampleEvery during the window.
	sample      func(elapsed time.Duration, logins int64)
	sampleEvery time.Duration
	// atWindow, when set, runs in its own goroutine as the window opens.
	atWindow func()
	// metrics, when set, reads the IdP's metrics (request durations,
	// signing counters) as the window opens and closes (serverlat.go).
	metrics func() (metricsReading, error)
}

// watched are the processes whose CPU a cell measures.
type watched struct {
	idp, slapd int
}

// percentiles of one step, in milliseconds.
type percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
}

// cellResult is what one cell measured.
type cellResult struct {
	Target       string   `json:"target"`
	Mode         string   `json:"mode"`
	Users        int      `json:"users"`
	Concurrency  int      `json:"concurrency"`
	Seconds      float64  `json:"seconds"`
	Logins       int64    `json:"logins"`
	Errors       int64    `json:"errors"`
	ErrorSamples []string `json:"error_samples,omitempty"`
	LoginsPerSec float64  `json:"logins_per_s"`
	// PacedRate is the rate the cell was paced to (0: closed loop).
	PacedRate  float64                `json:"paced_logins_per_s,omitempty"`
	Steps      map[string]percentiles `json:"steps"`
	StepOrder  []string               `json:"step_order"`
	IdPCPUms   float64                `json:"idp_cpu_ms_per_login"`
	SlapdCPUms float64                `json:"slapd_cpu_ms_per_login"`
	// GenCPUms is the generator's own CPU per login (this process, not its
	// children): it shows whether the generator could be the bottleneck.
	GenCPUms   float64 `json:"generator_cpu_ms_per_login"`
	IdPCPUUtil float64 `json:"idp_cpu_util"` // cores busy
	IdPRSSKB   int64   `json:"idp_rss_kb"`
	IdPAnonKB  int64   `json:"idp_rss_anon_kb"`
	// IdPAllocKB is the heap the IdP allocated per login over the window
	// (go_memstats_alloc_bytes_total): what its garbage collector works
	// through, independent of the machine's speed.
	IdPAllocKB float64 `json:"idp_alloc_kb_per_login,omitempty"`
	// SigningMs is RSA-2048 signing CPU time per signature on the IdP's
	// CPU during the window (our cells; see rsaprobe.go): the SAML cells'
	// signing cost, and in every cell a gauge of the machine's speed.
	SigningMs float64 `json:"signing_ms,omitempty"`
	// SigningInsideMs is the IdP's own figure for the same: the CPU time
	// of its signatures, each measured on the thread that made it, per
	// signature over the window (SAML cells; 0 where not measured).
	SigningInsideMs float64 `json:"signing_inside_ms,omitempty"`
	// ServerSide is the SP's back-channel calls' time inside the IdP, by
	// route (OAuth cells).
	ServerSide map[string]serverSide `json:"server_side,omitempty"`
}

// runCell runs j with c.concurrency workers: warm-up, then the window.
func runCell(ctx context.Context, j journey, c cellConfig, w watched) cellResult {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var measuring atomic.Bool
	var logins, failures, seq atomic.Int64
	type local struct {
		steps map[string][]time.Duration
		order []string
		errs  []string
	}
	locals := make([]*local, c.concurrency)
	var tickets chan struct{}
	if c.rate > 0 {
		tickets = make(chan struct{}, c.concurrency)
		go func() {
			start, n := time.Now(), 0
			for ctx.Err() == nil {
				due := start.Add(time.Duration(float64(n) / c.rate * float64(time.Second)))
				time.Sleep(time.Until(due))
				select {
				case tickets <- struct{}{}:
				case <-ctx.Done():
					return
				}
				n++
			}
		}()
	}
	var wg sync.WaitGroup
	for k := range c.concurrency {
		l := &local{steps: map[string][]time.Duration{}}
		locals[k] = l
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if tickets != nil {
					select {
					case <-tickets:
					case <-ctx.Done():
						return
					}
				}
				n := seq.Add(1)
				verify := c.verifyEvery > 0 && n%int64(c.verifyEvery) == 0
				t := time.Now()
				steps, err := j(ctx, pickUser(k, c.concurrency, c.users), verify)
				total := time.Since(t)
				if !measuring.Load() {
					continue
				}
				if err != nil {
					if ctx.Err() != nil && errors.Is(err, context.Canceled) {
						return
					}
					failures.Add(1)
					if len(l.errs) < 3 {
						l.errs = append(l.errs, err.Error())
					}
					continue
				}
				logins.Add(1)
				for _, s := range steps {
					if _, ok := l.steps[s.name]; !ok {
						l.order = append(l.order, s.name)
					}
					l.steps[s.name] = append(l.steps[s.name], s.d)
					if s.name == "sp_verify" {
						total -= s.d
					}
				}
				l.steps["login"] = append(l.steps["login"], total)
			}
		}()
	}
	sleepCtx(ctx, c.warmup)
	var before, after metricsReading
	var metErr error
	if c.metrics != nil {
		before, metErr = c.metrics()
	}
	cpu0, slapd0, gen0 := cpuOf(w.idp), cpuOf(w.slapd), selfCPU()
	measuring.Store(true)
	t0 := time.Now()
	if c.atWindow != nil {
		go c.atWindow()
	}
	if c.sample != nil {
		for time.Since(t0) < c.duration && ctx.Err() == nil {
			sleepCtx(ctx, min(c.sampleEvery, c.duration-time.Since(t0)))
			c.sample(time.Since(t0), logins.Load())
		}
	} else {
		sleepCtx(ctx, c.duration)
	}
	measuring.Store(false)
	elapsed := time.Since(t0)
	cpu1, slapd1, gen1 := cpuOf(w.idp), cpuOf(w.slapd), selfCPU()
	rss, anon := rssKB(w.idp)
	if c.metrics != nil && metErr == nil {
		after, metErr = c.metrics()
	}
	cancel()
	wg.Wait()

	r := cellResult{Concurrency: c.concurrency, Users: c.users, Seconds: elapsed.Seconds(),
		Logins: logins.Load(), Errors: failures.Load(), Steps: map[string]percentiles{},
		IdPRSSKB: rss, IdPAnonKB: anon}
	r.LoginsPerSec = float64(r.Logins) / elapsed.Seconds()
	all := map[string][]time.Duration{}
	for _, l := range locals {
		for _, name := range l.order {
			if !slices.Contains(r.StepOrder, name) {
				r.StepOrder = append(r.StepOrder, name)
			}
		}
		for name, ds := range l.steps {
			all[name] = append(all[name], ds...)
		}
		r.ErrorSamples = append(r.ErrorSamples, l.errs...)
	}
	if len(r.ErrorSamples) > 5 {
		r.ErrorSamples = r.ErrorSamples[:5]
	}
	r.StepOrder = append(r.StepOrder, "login")
	for name, ds := range all {
		r.Steps[name] = pct(ds)
	}
	if r.Logins > 0 {
		r.IdPCPUms = ms(cpu1-cpu0) / float64(r.Logins)
		r.SlapdCPUms = ms(slapd1-slapd0) / float64(r.Logins)
		r.GenCPUms = ms(gen1-gen0) / float64(r.Logins)
	}
	r.IdPCPUUtil = (cpu1 - cpu0).Seconds() / elapsed.Seconds()
	switch {
	case c.metrics == nil:
	case metErr != nil:
		r.ErrorSamples = append(r.ErrorSamples, metErr.Error())
	default:
		r.ServerSide = serverSides(before.durations, after.durations, "/oauth/token", "/oauth/userinfo")
		r.SigningInsideMs = signingInside(before, after)
		if r.Logins > 0 {
			r.IdPAllocKB = (after.counters[metricAllocBytes] - before.counters[metricAllocBytes]) / 1024 / float64(r.Logins)
		}
	}
	return r
}

func cpuOf(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	d, _ := treeCPU(pid)
	return d
}

// pickUser picks a user for worker k of conc. With at least as many users
// as workers, each worker draws from its own residue class, so no two
// concurrent logins are of one account (64 browsers signing in one account
// at once is what the IdP's login throttle exists to refuse).
func pickUser(k, conc, users int) int {
	if users < conc {
		return rand.IntN(users)
	}
	return k + conc*rand.IntN(users/conc)
}

// selfCPU is the generator's own CPU time, without its children's.
func selfCPU() time.Duration {
	st, err := readStat(os.Getpid())
	if err != nil {
		return 0
	}
	return time.Duration(st.cpu) * time.Second / clockTick
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func pct(ds []time.Duration) percentiles {
	slices.Sort(ds)
	at := func(q float64) float64 { return ms(ds[int(q*float64(len(ds)-1))]) }
	return percentiles{N: len(ds), P50: at(0.50), P90: at(0.90), P99: at(0.99)}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
