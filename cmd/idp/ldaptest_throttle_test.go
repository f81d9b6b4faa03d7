package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ncp-sso/idp/idp/store/boltstore"
)

// TestLDAPTestCountsBinds: with store.short_lived durable the diagnostic
// bind goes through the login throttle's per-entry count in the state
// store: wrong passwords count, a throttled account is not bound, and a
// store the running IdP holds is reported as not consulted. With the
// default (memory) the counts are out of reach, and the output says so.
func TestLDAPTestCountsBinds(t *testing.T) {
	sl, ou := directoryFixture(t)
	cfgPath := writeLDAPTestConfig(t, sl.URL, sl.CAFile, ou)
	dbPath := filepath.Join(t.TempDir(), "idp.db")
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	// With the default store.short_lived (memory) the running IdP keeps its
	// counts in its own memory: said so, nothing counted in the file.
	yaml := strings.Replace(string(raw), "backend: memory", "backend: bolt\n  path: "+dbPath, 1)
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := runLDAPTest(t, "nope", "--config", cfgPath, "--user", "hana", "--password-stdin"); code != 1 ||
		!strings.Contains(out, "• throttle: store.short_lived is memory") {
		t.Fatalf("short_lived memory: exit %d:\n%s", code, out)
	}
	// short_lived durable: the counts are in the file, and counted here.
	yaml = strings.Replace(string(raw), "backend: memory", "backend: bolt\n  short_lived: durable\n  path: "+dbPath, 1)
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	// No store file yet: nothing is created, the output says the bind is
	// not counted.
	code, out := runLDAPTest(t, "nope", "--config", cfgPath, "--user", "hana", "--password-stdin")
	if code != 1 || !strings.Contains(out, "• throttle: no state store at "+dbPath) {
		t.Fatalf("without a store file: exit %d:\n%s", code, out)
	}
	if _, err := os.Stat(dbPath); err == nil {
		t.Fatal("idp ldap test created the store file")
	}
	b, err := boltstore.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()

	// Without a password nothing is counted, however often.
	for range 4 {
		if code, out := runLDAPTest(t, "", "--config", cfgPath, "--user", "hana"); code != 0 {
			t.Fatalf("without a password: exit %d:\n%s", code, out)
		}
	}
	// throttle.max_failures_per_account defaults to 3, of which 1 is kept
	// for browsers the account signed in with: idp ldap test is not one.
	for i := range 2 {
		code, out := runLDAPTest(t, "nope", "--config", cfgPath, "--user", "hana", "--password-stdin")
		if code != 1 || !strings.Contains(out, "invalid credentials") || !strings.Contains(out, "counted by the login throttle") {
			t.Fatalf("wrong password %d: exit %d:\n%s", i+1, code, out)
		}
	}
	code, out = runLDAPTest(t, "Hana!2345", "--config", cfgPath, "--user", "hana", "--password-stdin")
	if code != 1 || !strings.Contains(out, "✗ user_bind") || !strings.Contains(out, "not sent: too many failed logins") ||
		!strings.Contains(out, "분 뒤에 다시 시도할 수 있습니다") {
		t.Fatalf("3rd bind: exit %d, want refused by the throttle:\n%s", code, out)
	}

	// The running IdP holds the file: said so, and the bind still runs.
	held, err := boltstore.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	code, out = runLDAPTest(t, "Hana!2345", "--config", cfgPath, "--user", "hana", "--password-stdin")
	if code != 0 || !strings.Contains(out, "• throttle: the running IdP holds "+dbPath) {
		t.Fatalf("store held: exit %d:\n%s", code, out)
	}
}
