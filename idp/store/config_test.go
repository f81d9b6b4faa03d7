package store_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ncp-sso/idp/idp/store"
)

func TestConfigDefaults(t *testing.T) {
	var c store.Config
	c.SetDefaults()
	want := store.Config{Backend: "bolt", Path: "/var/lib/idp/idp.db", SweepInterval: time.Minute, LockTimeout: 2 * time.Second}
	if c != want {
		t.Fatalf("SetDefaults = %+v, want %+v", c, want)
	}
	if ps := c.Validate(); len(ps) != 0 {
		t.Fatalf("defaults do not validate: %v", ps)
	}
	// The memory backend needs no path, and set values are kept.
	m := store.Config{Backend: "memory", SweepInterval: 5 * time.Second}
	m.SetDefaults()
	if m.Path != "" || m.SweepInterval != 5*time.Second {
		t.Fatalf("SetDefaults(memory) = %+v", m)
	}
}

func TestConfigYAML(t *testing.T) {
	const doc = "backend: bolt\npath: /tmp/x.db\nsweep_interval: 30s\nlock_timeout: 500ms\n"
	var c store.Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	want := store.Config{Backend: "bolt", Path: "/tmp/x.db", SweepInterval: 30 * time.Second, LockTimeout: 500 * time.Millisecond}
	if c != want {
		t.Fatalf("decoded %+v, want %+v", c, want)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  store.Config
		keys []string
	}{
		{"ok bolt", store.Config{Backend: "bolt", Path: "idp.db", SweepInterval: time.Second, LockTimeout: time.Minute}, nil},
		{"ok memory", store.Config{Backend: "memory", SweepInterval: time.Minute, LockTimeout: time.Second}, nil},
		{"unknown backend", store.Config{Backend: "redis", SweepInterval: time.Minute, LockTimeout: time.Second}, []string{"backend"}},
		{"bolt without path", store.Config{Backend: "bolt", SweepInterval: time.Minute, LockTimeout: time.Second}, []string{"path"}},
		{"everything wrong at once", store.Config{Backend: "bolt", SweepInterval: time.Millisecond, LockTimeout: -time.Second},
			[]string{"path", "sweep_interval", "lock_timeout"}},
		{"lock timeout too long", store.Config{Backend: "memory", SweepInterval: time.Minute, LockTimeout: time.Hour}, []string{"lock_timeout"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var keys []string
			for _, p := range tc.cfg.Validate() {
				keys = append(keys, p.Key)
				if p.Msg == "" {
					t.Errorf("problem %q has no message", p.Key)
				}
			}
			if !slices.Equal(keys, tc.keys) {
				t.Fatalf("problem keys = %v, want %v", keys, tc.keys)
			}
		})
	}
}
