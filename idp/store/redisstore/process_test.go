package redisstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/redisstore"
	"github.com/ncp-sso/idp/idp/store/redisstore/redistest"
)

// Environment of the helper process of TestSingleUseAcrossProcesses.
const (
	envHelperAddr   = "REDISSTORE_HELPER_ADDR"
	envHelperPrefix = "REDISSTORE_HELPER_PREFIX"
)

const (
	crossRecords = 300
	crossWorkers = 8
)

// raceAll takes record i (Take for even i, Consume for odd i) from
// crossWorkers goroutines and returns the indices this process won.
func raceAll(b *redisstore.Backend) ([]int, error) {
	bg := context.Background()
	var (
		mu   sync.Mutex
		won  []int
		errs []error
		wg   sync.WaitGroup
	)
	for w := range crossWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range crossRecords {
				i := (j + w*crossRecords/crossWorkers) % crossRecords // workers start apart
				key := []byte("k" + strconv.Itoa(i))
				var win bool
				var err error
				if i%2 == 0 {
					_, err = b.Take(bg, "b", key)
					win = err == nil
					if errors.Is(err, idp.ErrNotFound) {
						err = nil
					}
				} else {
					_, win, err = b.Consume(bg, "b", key, time.Minute)
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				if win {
					won = append(won, i)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return won, errors.Join(errs...)
}

// TestSingleUseAcrossProcesses: two processes (this test binary and a copy
// of it) race for the same records on one Redis; every record is taken or
// first consumed exactly once overall.
func TestSingleUseAcrossProcesses(t *testing.T) {
	srv := redistest.Start(t)
	cfg := config(srv)
	b := openConfig(t, cfg, nil)
	exp := time.Now().Add(time.Hour)
	for i := range crossRecords {
		if err := b.Put(t.Context(), "b", []byte("k"+strconv.Itoa(i)), []byte("v"), exp); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRacer$", "-test.count=1")
	cmd.Env = append(os.Environ(), envHelperAddr+"="+srv.Addr, envHelperPrefix+"="+cfg.KeyPrefix)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("helper did not get ready: %q %v", lines.Text(), lines.Err())
	}
	// Both processes start racing at once.
	fmt.Fprintln(stdin, "go")
	mine, err := raceAll(b)
	if err != nil {
		t.Fatal(err)
	}
	var theirs []int
	for lines.Scan() {
		if n, ok := strings.CutPrefix(lines.Text(), "won "); ok {
			i, err := strconv.Atoi(n)
			if err != nil {
				t.Fatalf("helper said %q", lines.Text())
			}
			theirs = append(theirs, i)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper failed: %v", err)
	}
	wins := make([]int, crossRecords)
	for _, i := range append(mine, theirs...) {
		wins[i]++
	}
	for i, n := range wins {
		if n != 1 {
			t.Errorf("record %d won %d times across the two processes, want exactly 1", i, n)
		}
	}
	t.Logf("this process won %d records, the other %d", len(mine), len(theirs))
}

// TestHelperRacer is the second process of TestSingleUseAcrossProcesses;
// it does nothing when run on its own.
func TestHelperRacer(t *testing.T) {
	addr := os.Getenv(envHelperAddr)
	if addr == "" {
		return
	}
	cfg := store.RedisConfig{Addr: addr, KeyPrefix: os.Getenv(envHelperPrefix)}
	b := openConfig(t, cfg, nil)
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() {
		t.Fatal("no go from the parent")
	}
	won, err := raceAll(b)
	for _, i := range won {
		fmt.Println("won", i)
	}
	if err != nil {
		t.Fatal(err)
	}
}
