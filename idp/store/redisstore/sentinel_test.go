package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/redisstore/redistest"
)

// SentinelGroup is one master, one replica and three sentinels on loopback.
type sentinelGroup struct {
	master, replica *redistest.Server
	sentinels       []*redistest.Server
}

const groupName = "idp"

func startSentinelGroup(t *testing.T) *sentinelGroup {
	t.Helper()
	g := &sentinelGroup{master: redistest.Start(t)}
	g.replica = redistest.StartReplica(t, g.master)
	for range 3 {
		g.sentinels = append(g.sentinels, redistest.StartSentinel(t, groupName, g.master))
	}
	for _, s := range g.sentinels {
		s.WaitSentinelReady(t, groupName, 1, 2)
	}
	return g
}

func (g *sentinelGroup) config() store.RedisConfig {
	cfg := store.RedisConfig{KeyPrefix: fmt.Sprintf("t%d:", time.Now().UnixNano())}
	cfg.Sentinel.MasterName = groupName
	for _, s := range g.sentinels {
		cfg.Sentinel.Addrs = append(cfg.Sentinel.Addrs, s.Addr)
	}
	return cfg
}

var replOffset = regexp.MustCompile(`(?m)^master_repl_offset:(\d+)`)

// offset reads master_repl_offset from INFO replication of srv.
func offset(t *testing.T, srv *redistest.Server) int64 {
	t.Helper()
	info, err := srv.Client(t).Info(t.Context(), "replication").Result()
	if err != nil {
		t.Fatal(err)
	}
	m := replOffset.FindStringSubmatch(info)
	if m == nil {
		t.Fatalf("no master_repl_offset in %q", info)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// TestSentinelFailover: writers keep storing records through the Sentinel
// client while the master is killed with SIGKILL. During the failover
// calls fail with ErrStoreUnavailable (the 503 page); afterwards the same
// Backend writes to the promoted replica without being reopened. Every
// record acknowledged before a point the replica was known to have reached
// survives; records acknowledged in the last moments before the kill may be
// lost (asynchronous replication) and are counted; every record written
// after the failover survives.
func TestSentinelFailover(t *testing.T) {
	t0 := time.Now()
	g := startSentinelGroup(t)
	t.Logf("group up in %v", time.Since(t0).Round(time.Millisecond))
	b := openConfig(t, g.config(), nil)
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)

	var (
		mu        sync.Mutex
		acked     []string // in acknowledgement order
		checkAt   = -1     // acked[:checkAt] were acknowledged before the checkpoint
		killedAt  = -1     // acked[:killedAt] before the kill
		failures  int
		wrongErrs []error
		stop      = make(chan struct{})
		wg        sync.WaitGroup
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("w%d-%d", w, i)
				err := b.Put(ctx, "b", []byte(k), []byte("v"), exp)
				mu.Lock()
				switch {
				case err == nil:
					acked = append(acked, k)
				case errors.Is(err, idp.ErrStoreUnavailable):
					failures++
				default:
					wrongErrs = append(wrongErrs, err)
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond) // as a user would retry
				}
			}
		}()
	}
	ackedLen := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }

	time.Sleep(300 * time.Millisecond)
	// Checkpoint: everything acknowledged before this read of the master's
	// replication offset is in the replica once it reports that offset.
	mu.Lock()
	checkAt = len(acked)
	mu.Unlock()
	want := offset(t, g.master)
	deadline := time.Now().Add(5 * time.Second)
	for offset(t, g.replica) < want {
		if time.Now().After(deadline) {
			t.Fatal("replica did not catch up with the master")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	killedAt = len(acked)
	mu.Unlock()
	killTime := time.Now()
	if err := g.master.Kill(); err != nil {
		t.Fatal(err)
	}

	// Wait until writes succeed again: the client found the new master.
	deadline = time.Now().Add(30 * time.Second)
	for before := ackedLen(); ; {
		time.Sleep(100 * time.Millisecond)
		if ackedLen() > before+20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no writes succeeded within 30s of the master's death")
		}
	}
	recoveredAt := ackedLen()
	t.Logf("writes resumed %v after the kill", time.Since(killTime).Round(time.Millisecond))
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()

	if len(wrongErrs) > 0 {
		t.Fatalf("calls during the failover failed without ErrStoreUnavailable: %v", wrongErrs[:min(3, len(wrongErrs))])
	}
	if err := b.Check(ctx); err != nil {
		t.Fatalf("Check after the failover: %v", err)
	}
	present := func(k string) bool {
		_, err := b.Get(ctx, "b", []byte(k))
		if err != nil && !errors.Is(err, idp.ErrNotFound) {
			t.Fatalf("Get after the failover: %v", err)
		}
		return err == nil
	}
	lostInWindow := 0
	for i, k := range acked {
		switch ok := present(k); {
		case ok:
		case i < checkAt:
			t.Errorf("record %s acknowledged before the replica reached the checkpoint was lost", k)
		case i >= recoveredAt:
			t.Errorf("record %s acknowledged after the failover was lost", k)
		default:
			lostInWindow++
		}
	}
	t.Logf("%d records acknowledged (%d before the checkpoint, %d before the kill), %d calls refused during the failover, %d lost from the last moments before the kill",
		len(acked), checkAt, killedAt, failures, lostInWindow)
	if failures == 0 {
		t.Log("no call failed: the failover happened between calls")
	}

	// The sentinels now name the former replica as master.
	addr, err := g.sentinels[0].Client(t).Do(context.Background(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", groupName).StringSlice()
	if err != nil || len(addr) != 2 || addr[0]+":"+addr[1] != g.replica.Addr {
		t.Fatalf("sentinel master = %v, %v; want the replica %s", addr, err, g.replica.Addr)
	}
}
