package store

import (
	"time"

	"github.com/ncp-sso/idp/idp"
)

// Backend names accepted in Config.Backend.
const (
	// BackendBolt keeps state in one bbolt file (idp/store/boltstore):
	// survives restarts, one idp process per file.
	BackendBolt = "bolt"
	// BackendMemory keeps state in process memory (idp/store/memory): lost
	// on restart; for tests and `idp demo`.
	BackendMemory = "memory"
	// BackendRedis keeps state in Redis (idp/store/redisstore), shared by
	// every idp instance that points at it: the high-availability setup.
	BackendRedis = "redis"
)

// Config defaults.
const (
	// DefaultPath is where the bolt file lives unless configured: the state
	// directory a systemd unit gets with StateDirectory=idp. An absolute
	// default, so the file never lands in whatever directory the process
	// happened to start in.
	DefaultPath = "/var/lib/idp/idp.db"
	// DefaultLockTimeout bounds how long Open waits for another process to
	// release the file before failing.
	DefaultLockTimeout = 2 * time.Second
	// ShortLivedMemory keeps ShortLivedBuckets (and the login throttle's
	// counts) in process memory beside a bolt file; ShortLivedDurable
	// writes them to the file like everything else.
	ShortLivedMemory  = "memory"
	ShortLivedDurable = "durable"
	// maxLockTimeout keeps a misconfigured timeout from looking like a hang.
	maxLockTimeout = time.Minute
)

// Config is the `store:` section of the configuration file.
type Config struct {
	// Backend is "bolt", "memory" or "redis". Default "bolt".
	Backend string `yaml:"backend"`
	// Path is the bolt database file; its directory must exist and be
	// writable. Created with mode 0600. Default "/var/lib/idp/idp.db".
	// Ignored by the memory backend.
	Path string `yaml:"path"`
	// SweepInterval is how often expired records are removed from disk or
	// memory (they are invisible to reads from the moment they expire).
	// At least 1s. Default 1m.
	SweepInterval time.Duration `yaml:"sweep_interval"`
	// LockTimeout is how long opening the bolt file waits for another
	// process that holds it. More than 0, at most 1m. Default 2s.
	LockTimeout time.Duration `yaml:"lock_timeout"`
	// ShortLived says where the bolt backend keeps short-lived records:
	// pending login requests, authorization codes, replay markers,
	// rate-limit and login-throttle counters. "memory" (default): in process
	// memory, so a login waits for the disk only for its session and token,
	// and the SP's token call not at all; a crash or restart makes people
	// whose login page was open, or whose code was not yet redeemed, start
	// again and resets the throttle's counts. "durable": in the file, at
	// about 9 more synchronous commits per login. Only for the bolt backend
	// (redis keeps everything in Redis so that instances share it).
	ShortLived string `yaml:"short_lived"`
	// Redis is the server or Sentinel group of the redis backend; ignored
	// by the others.
	Redis RedisConfig `yaml:"redis"`
}

// SetDefaults fills zero values with the documented defaults.
func (c *Config) SetDefaults() {
	if c.Backend == "" {
		c.Backend = BackendBolt
	}
	if c.Path == "" && c.Backend == BackendBolt {
		c.Path = DefaultPath
	}
	if c.ShortLived == "" && c.Backend == BackendBolt {
		c.ShortLived = ShortLivedMemory
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	if c.LockTimeout == 0 {
		c.LockTimeout = DefaultLockTimeout
	}
	if c.Backend == BackendRedis {
		c.Redis.SetDefaults()
	}
}

// Validate reports every problem at once, keys relative to the section.
func (c *Config) Validate() idp.Problems {
	var ps idp.Problems
	switch c.Backend {
	case BackendBolt:
		if c.Path == "" {
			ps.Addf("path", "set the bolt database file, e.g. %q", DefaultPath)
		}
		if c.ShortLived != ShortLivedMemory && c.ShortLived != ShortLivedDurable {
			ps.Addf("short_lived", "unknown value %q: use %q (default) or %q", c.ShortLived, ShortLivedMemory, ShortLivedDurable)
		}
	case BackendMemory:
	case BackendRedis:
		ps.Merge("redis", c.Redis.Validate())
		if c.ShortLived != "" {
			ps.Addf("short_lived", "only for the bolt backend: redis keeps every record in Redis so that all instances see it; remove the key")
		}
	default:
		ps.Addf("backend", "unknown backend %q: use %q, %q or %q", c.Backend, BackendBolt, BackendRedis, BackendMemory)
	}
	if c.SweepInterval < time.Second {
		ps.Addf("sweep_interval", "must be at least 1s (got %s); default %s", c.SweepInterval, DefaultSweepInterval)
	}
	if c.LockTimeout <= 0 || c.LockTimeout > maxLockTimeout {
		ps.Addf("lock_timeout", "must be more than 0 and at most %s (got %s); default %s", maxLockTimeout, c.LockTimeout, DefaultLockTimeout)
	}
	return ps
}
