package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ncp-sso/idp/certs"
)

// options are the command-line flags.
type options struct {
	bin          string
	users        int
	scale        []int
	modes        []string
	concurrency  []int
	warmup       time.Duration
	duration     time.Duration
	verifyEvery  int
	compare      bool
	sessions     int
	soak         time.Duration
	soakFraction float64
	out          string
	pin          bool
	poolSize     int
	browserConc  int
	paced        float64
	logLevel     string
	keep         bool
	store        string
	profile      string
	genProfile   string
	yardstick    bool
	rsaProbe     string
}

// generatorGOGC is the generator's GOGC unless the environment sets one:
// its live heap is small and its garbage is per login, so the default 100
// collects many times a second, with 64 or more goroutine stacks to scan
// each time, CPU taken from the IdP under test.
const generatorGOGC = 800

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(generatorGOGC)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return 2
	}
	if o.rsaProbe != "" {
		keyFile, certFile, d, every, err := parseRSAProbe(o.rsaProbe)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		if err := rsaProbe(keyFile, certFile, d, every, stdout); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	}
	b, err := newBench(o, stdout)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer b.close()
	if o.genProfile != "" {
		stopProfile, err := profileSelf(o.genProfile)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		defer stopProfile()
	}
	if err := b.run(ctx); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("idpbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var modes, conc, scale string
	fs.StringVar(&o.bin, "idp", "bin/idp", "the IdP binary to measure (make build)")
	fs.IntVar(&o.users, "users", 5000, "users loaded into slapd")
	fs.StringVar(&scale, "scale", "", "extra directory sizes (e.g. 100,100000): OAuth and SAML at the highest concurrency")
	fs.StringVar(&modes, "modes", "oauth,oauth-sso,saml,saml1", "modes: oauth, oauth-sso (signed-in employees: login URL -> code at once -> token -> userinfo; the SP back channel), saml (Response and Assertion signed), saml1 (Response only)")
	fs.StringVar(&conc, "concurrency", "1,4,16,64", "concurrent browsers per cell")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up before each measuring window")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measuring window of each cell")
	fs.IntVar(&o.verifyEvery, "verify-every", 20, "verify one SAML Response in N as an SP would (0: never)")
	fs.BoolVar(&o.compare, "compare", false, "also run the SAML cells against SimpleSAMLphp (Debian package, own Apache)")
	fs.IntVar(&o.sessions, "sessions", 10000, "live SSO sessions to create before reading the IdP's RSS (0: skip)")
	fs.DurationVar(&o.soak, "soak", 0, "soak at -soak-fraction of the maximum OAuth rate for this long, sampling RSS (0: skip)")
	fs.Float64Var(&o.soakFraction, "soak-fraction", 0.8, "soak rate as a fraction of the measured maximum")
	fs.Float64Var(&o.paced, "paced", 0.8, "after the oauth cells, OAuth at the top concurrency paced to this fraction of the best rate, for the back channel's latency at a sustained load (0: skip)")
	fs.StringVar(&o.out, "out", "bench/results", "directory for <date>-<host>.md and .json (empty: stdout only)")
	fs.BoolVar(&o.pin, "pin", true, "pin the IdP to the last CPU and slapd + generator to the others (taskset)")
	fs.IntVar(&o.poolSize, "pool-size", 8, "our IdP's ldap.pool_size")
	fs.IntVar(&o.browserConc, "browser-concurrency", 0, "our IdP's server.browser_concurrency (0: its default, -1: no line)")
	fs.StringVar(&o.logLevel, "log-level", "info", "our IdP's log.level")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (configs, logs) for inspection")
	fs.StringVar(&o.store, "store", "bolt", "our IdP's store.backend: bolt (durable, fsync per commit) or memory")
	fs.StringVar(&o.profile, "profile", "", "directory for CPU profiles of the IdP during each mode's highest-concurrency cell (needs a binary built with -tags pprof: make bench-profile)")
	fs.BoolVar(&o.yardstick, "yardstick", true, "before the load, time OpenSSL and Go RSA-2048 signing on the IdP's CPU (about 12 s): the machine's speed against the issue's reference machine")
	fs.StringVar(&o.genProfile, "genprofile", "", "file for a CPU profile of the generator itself over the whole run (go tool pprof FILE)")
	fs.StringVar(&o.rsaProbe, "rsa-probe", "", "internal: KEY,CERT,DURATION[,EVERY]: sign with that key every 100 ms (or EVERY, 0 for back to back) for DURATION, print the mean CPU ns per signature and exit (what every cell runs on the IdP's CPU: the SAML cells' signing yardstick, the machine's speed in the others)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: idpbench [flags]\n\nLoad generator for the IdP (see README \"Benchmarks\"). Flags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	o.modes = splitList(modes)
	for _, m := range o.modes {
		if m != "oauth" && m != "oauth-sso" && m != "saml" && m != "saml1" {
			err = fmt.Errorf("idpbench: unknown mode %q (oauth, oauth-sso, saml, saml1)", m)
		}
	}
	if o.concurrency, err = intList(conc, err); err == nil {
		o.scale, err = intList(scale, err)
	}
	if err == nil && o.store != "bolt" && o.store != "memory" {
		err = fmt.Errorf("idpbench: -store must be bolt or memory")
	}
	if err == nil && (o.paced < 0 || o.paced > 1 || o.soakFraction <= 0 || o.soakFraction > 1) {
		err = fmt.Errorf("idpbench: -paced must be between 0 and 1, -soak-fraction above 0 and at most 1")
	}
	if err == nil && (o.users < 1 || len(o.concurrency) == 0) {
		err = fmt.Errorf("idpbench: -users and -concurrency must be positive")
	}
	// The soak's rate is a fraction of the oauth cells' best: say so now,
	// not after the other cells have run.
	if err == nil && o.soak > 0 && !slices.Contains(o.modes, "oauth") {
		err = fmt.Errorf("idpbench: -soak paces OAuth at a fraction of the oauth cells' best rate: add oauth to -modes (-modes %s,oauth), or run make bench rather than make bench-compare", strings.Join(o.modes, ","))
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
	}
	return o, err
}

// profileSelf writes a CPU profile of this process to path until the
// returned function is called.
func profileSelf(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("idpbench: -genprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("idpbench: -genprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func intList(s string, prev error) ([]int, error) {
	if prev != nil {
		return nil, prev
	}
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("idpbench: %q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// bench holds what one invocation started.
type bench struct {
	o                 options
	out               io.Writer
	dir               string
	idpCPUs, peerCPUs string
	keyFile, certFile string
	cert              *x509.Certificate
	report            *report
}

func newBench(o options, out io.Writer) (*bench, error) {
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("idpbench: %s: %w (run make build)", o.bin, err)
	}
	o.bin = bin
	dir, err := os.MkdirTemp("", "idpbench-")
	if err != nil {
		return nil, err
	}
	// Apache's workers (www-data) read the SimpleSAMLphp config from here.
	_ = os.Chmod(dir, 0o755)
	b := &bench{o: o, out: out, dir: dir}
	if n := runtime.NumCPU(); o.pin && n >= 2 {
		b.idpCPUs = strconv.Itoa(n - 1)
		b.peerCPUs = "0"
		if n > 2 {
			b.peerCPUs = fmt.Sprintf("0-%d", n-2)
		}
		// The generator shares the peers' CPUs; its later threads inherit.
		if err := exec.Command("taskset", "-a", "-p", "-c", b.peerCPUs, strconv.Itoa(os.Getpid())).Run(); err != nil {
			return nil, fmt.Errorf("idpbench: taskset: %w", err)
		}
		runtime.GOMAXPROCS(n - 1)
	}
	kp, err := certs.Generate(certs.Options{CommonName: "idpbench"})
	if err != nil {
		return nil, err
	}
	b.keyFile, b.certFile = filepath.Join(dir, "saml.key"), filepath.Join(dir, "saml.pem")
	if err := certs.WriteFiles(kp, b.keyFile, b.certFile, false); err != nil {
		return nil, err
	}
	pemBytes, err := os.ReadFile(b.certFile)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(pemBytes)
	if blk == nil {
		return nil, fmt.Errorf("idpbench: %s: no PEM", b.certFile)
	}
	if b.cert, err = x509.ParseCertificate(blk.Bytes); err != nil {
		return nil, err
	}
	b.report = newReport(o, b.idpCPUs, b.peerCPUs)
	return b, nil
}

func (b *bench) close() {
	if b.o.keep {
		fmt.Fprintf(b.out, "kept %s\n", b.dir)
		return
	}
	_ = os.RemoveAll(b.dir)
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.out, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
