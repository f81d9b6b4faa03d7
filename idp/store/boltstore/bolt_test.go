package boltstore_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/boltstore"
	"github.com/ncp-sso/idp/idp/store/memory"
	"github.com/ncp-sso/idp/idp/store/storetest"
)

// holdEnv, when set to a path, turns the test binary into a helper process
// that opens that database, prints "locked", and keeps it until its stdin
// closes. bbolt's flock belongs to a process, so only another process can
// show what an operator sees when a second idp starts on the same file.
const holdEnv = "BOLTSTORE_TEST_HOLD_LOCK"

func TestMain(m *testing.M) {
	if path := os.Getenv(holdEnv); path != "" {
		os.Exit(holdLock(path))
	}
	os.Exit(m.Run())
}

func holdLock(path string) int {
	b, err := boltstore.Open(path)
	if err != nil {
		fmt.Println("open failed:", err)
		return 1
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := b.Close(); err != nil {
		fmt.Println("close failed:", err)
		return 1
	}
	return 0
}

func open(t *testing.T, path string, opts ...boltstore.Option) *boltstore.Backend {
	t.Helper()
	b, err := boltstore.Open(path, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) store.Backend {
		return open(t, filepath.Join(t.TempDir(), "idp.db"), boltstore.WithClock(now))
	})
}

func TestLockedByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "idp.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdEnv+"="+path)
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
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper process: %q, %v", line, err)
	}

	start := time.Now()
	b, err := boltstore.Open(path)
	elapsed := time.Since(start)
	if err == nil {
		b.Close()
		t.Fatal("Open of a file another process holds succeeded")
	}
	if elapsed > 3*time.Second {
		t.Errorf("Open took %s to fail, want < 3s", elapsed)
	}
	if !errors.Is(err, boltstore.ErrLocked) {
		t.Errorf("error = %v, want ErrLocked", err)
	}
	for _, want := range []string{path, "another idp process"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	// Once the other process lets go, the file opens.
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper process: %v", err)
	}
	open(t, path)
}

func TestOpenErrors(t *testing.T) {
	if _, err := boltstore.Open(""); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Open(\"\") error = %v, want ErrInvalid", err)
	}
	missing := filepath.Join(t.TempDir(), "no-such-dir", "idp.db")
	_, err := boltstore.Open(missing)
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Open in a missing directory: error %v does not name the file", err)
	}
}

func TestFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "idp.db")
	open(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode = %v, want 0600", fi.Mode().Perm())
	}
}

// TestSurvivesReopen stores one of everything, closes, reopens, and finds
// it all in the same state: live records live, a spent code still spent.
func TestSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "idp.db")
	clk := storetest.NewClock(storetest.Epoch)
	ctx := t.Context()
	b, err := boltstore.Open(path, boltstore.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	s := store.New(b)
	now := clk.Now()
	id := idp.Identity{Subject: "u1", Username: "kim", Attributes: map[string][]string{"mail": {"kim@example.com"}}}
	sess := idp.Session{ID: idp.NewID(nil), Identity: id, AuthTime: now, ExpiresAt: now.Add(time.Hour)}
	code := idp.Code{ID: idp.NewID(nil), ClientID: "c", Identity: id, TokenID: idp.NewID(nil), ExpiresAt: now.Add(time.Minute)}
	for _, err := range []error{s.PutSession(ctx, sess), s.PutCode(ctx, code)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.TakeCode(ctx, code.ID); err != nil {
		t.Fatal(err)
	}
	if first, err := s.FirstUse(ctx, "saml", "req-1", now.Add(time.Hour)); err != nil || !first {
		t.Fatalf("FirstUse = %v, %v", first, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = store.New(open(t, path, boltstore.WithClock(clk.Now)))
	got, err := s.GetSession(ctx, sess.ID)
	if err != nil || got.Identity.Attribute("mail") != "kim@example.com" {
		t.Fatalf("GetSession after reopen = %+v, %v", got, err)
	}
	if c, err := s.TakeCode(ctx, code.ID); !errors.Is(err, idp.ErrAlreadyUsed) || c.TokenID != code.TokenID {
		t.Fatalf("TakeCode of a spent code after reopen = %+v, %v; want ErrAlreadyUsed with TokenID", c, err)
	}
	if first, err := s.FirstUse(ctx, "saml", "req-1", now.Add(time.Hour)); err != nil || first {
		t.Fatalf("FirstUse after reopen = %v, %v; want false", first, err)
	}
}

// TestFileHoldsNoSecrets writes one of each secret-keyed record, closes the
// database, and searches the raw file, free pages included, for the IDs
// and identity data.
func TestFileHoldsNoSecrets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "idp.db")
	ctx := t.Context()
	b, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s := store.New(b)
	now := time.Now()
	id := idp.Identity{Subject: "subject-7f3a", Username: "lee.sunsin", Email: "lee.sunsin@example.co.kr", DisplayName: "이순신"}
	sess := idp.Session{ID: idp.NewID(nil), Identity: id, AuthTime: now, ExpiresAt: now.Add(time.Hour)}
	flow := idp.Flow{ID: idp.NewID(nil), Protocol: "saml", Payload: []byte("relay-state-secret"), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	code := idp.Code{ID: idp.NewID(nil), SessionID: sess.ID, Identity: id, TokenID: idp.NewID(nil), ExpiresAt: now.Add(time.Minute)}
	tok := idp.Token{ID: code.TokenID, SessionID: sess.ID, Identity: id, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	for _, err := range []error{s.PutSession(ctx, sess), s.PutFlow(ctx, flow), s.PutCode(ctx, code), s.PutToken(ctx, tok)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.TakeCode(ctx, code.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The file does hold the bucket names: the search would find a plain
	// string, so a miss below is meaningful.
	if !strings.Contains(string(raw), store.BucketSessions) {
		t.Fatal("bucket name not found in the raw file: the scan cannot see plain text")
	}
	storetest.WantAbsent(t, "database file", raw, storetest.Secrets(sess, flow, code, tok))
}

// TestConformanceSplit runs the suite on what `idp serve` builds by
// default: the bolt file with the short-lived buckets in memory.
func TestConformanceSplit(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) store.Backend {
		fast := memory.New(memory.WithClock(now))
		return store.Split(open(t, filepath.Join(t.TempDir(), "idp.db"), boltstore.WithClock(now)), fast, store.ShortLivedBuckets...)
	})
}
