package store_test

import (
	"reflect"
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
	want := store.Config{Backend: "bolt", Path: "/var/lib/idp/idp.db", ShortLived: "memory", SweepInterval: time.Minute, LockTimeout: 2 * time.Second}
	if !reflect.DeepEqual(c, want) {
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
	const doc = "backend: bolt\npath: /tmp/x.db\nshort_lived: durable\nsweep_interval: 30s\nlock_timeout: 500ms\n"
	var c store.Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	want := store.Config{Backend: "bolt", Path: "/tmp/x.db", ShortLived: "durable", SweepInterval: 30 * time.Second, LockTimeout: 500 * time.Millisecond}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("decoded %+v, want %+v", c, want)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  store.Config
		keys []string
	}{
		{"ok bolt", store.Config{Backend: "bolt", Path: "idp.db", ShortLived: "memory", SweepInterval: time.Second, LockTimeout: time.Minute}, nil},
		{"bolt durable", store.Config{Backend: "bolt", Path: "idp.db", ShortLived: "durable", SweepInterval: time.Second, LockTimeout: time.Minute}, nil},
		{"bolt short_lived unknown", store.Config{Backend: "bolt", Path: "idp.db", ShortLived: "disk", SweepInterval: time.Second, LockTimeout: time.Minute}, []string{"short_lived"}},
		{"redis with short_lived", func() store.Config {
			c := store.Config{Backend: "redis", ShortLived: "memory", Redis: store.RedisConfig{Addr: "127.0.0.1:6379"}}
			c.SetDefaults()
			return c
		}(), []string{"short_lived"}},
		{"ok memory", store.Config{Backend: "memory", SweepInterval: time.Minute, LockTimeout: time.Second}, nil},
		{"unknown backend", store.Config{Backend: "etcd", SweepInterval: time.Minute, LockTimeout: time.Second}, []string{"backend"}},
		{"bolt without path", store.Config{Backend: "bolt", ShortLived: "memory", SweepInterval: time.Minute, LockTimeout: time.Second}, []string{"path"}},
		{"everything wrong at once", store.Config{Backend: "bolt", ShortLived: "memory", SweepInterval: time.Millisecond, LockTimeout: -time.Second},
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

func TestRedisConfig(t *testing.T) {
	const doc = `backend: redis
redis:
  sentinel:
    master_name: idp
    addrs: ["10.0.0.1:26379", "10.0.0.2:26379"]
  username: idp
  password: s3cret
  tls: {enabled: true, ca_file: /etc/idp/redis-ca.pem, server_name: redis.corp}
  db: 2
  read_timeout: 500ms
`
	var c store.Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	want := store.RedisConfig{
		Sentinel: store.RedisSentinelConfig{MasterName: "idp", Addrs: []string{"10.0.0.1:26379", "10.0.0.2:26379"}},
		Username: "idp", Password: "s3cret",
		TLS: store.RedisTLSConfig{Enabled: true, CAFile: "/etc/idp/redis-ca.pem", ServerName: "redis.corp"},
		DB:  2, DialTimeout: 2 * time.Second, ReadTimeout: 500 * time.Millisecond, WriteTimeout: time.Second,
		KeyPrefix: "idp:",
	}
	if !reflect.DeepEqual(c.Redis, want) {
		t.Fatalf("decoded %+v\nwant %+v", c.Redis, want)
	}
	if c.Path != "" {
		t.Errorf("redis backend got a bolt path %q", c.Path)
	}
	if ps := c.Validate(); len(ps) != 0 {
		t.Fatalf("valid config has problems: %v", ps)
	}
}

func TestRedisConfigValidate(t *testing.T) {
	base := func(mod func(r *store.RedisConfig)) store.Config {
		c := store.Config{Backend: "redis"}
		mod(&c.Redis)
		c.SetDefaults()
		return c
	}
	tests := []struct {
		name string
		cfg  store.Config
		keys []string
	}{
		{"ok single", base(func(r *store.RedisConfig) { r.Addr = "127.0.0.1:6379" }), nil},
		{"neither", base(func(r *store.RedisConfig) {}), []string{"redis.addr"}},
		{"both", base(func(r *store.RedisConfig) {
			r.Addr = "a:1"
			r.Sentinel.MasterName = "m"
		}), []string{"redis.addr"}},
		{"sentinel incomplete", base(func(r *store.RedisConfig) { r.Sentinel.Addrs = []string{"s1:26379", "nope"} }),
			[]string{"redis.sentinel.master_name", "redis.sentinel.addrs[1]"}},
		{"everything wrong at once", base(func(r *store.RedisConfig) {
			r.Addr = "host:99999"
			r.Username = "idp"
			r.TLS.CAFile = "/ca.pem"
			r.DB = -1
			r.ReadTimeout = -time.Second
			r.WriteTimeout = time.Hour
		}), []string{"redis.addr", "redis.username", "redis.tls.enabled", "redis.db", "redis.read_timeout", "redis.write_timeout"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var keys []string
			for _, p := range tc.cfg.Validate() {
				keys = append(keys, p.Key)
			}
			if !slices.Equal(keys, tc.keys) {
				t.Fatalf("problem keys = %v, want %v", keys, tc.keys)
			}
		})
	}
}
