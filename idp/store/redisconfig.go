package store

import (
	"net"
	"strconv"
	"time"

	"github.com/ncp-sso/idp/idp"
)

// Redis config defaults. The timeouts are short on purpose: a login waits on
// every store call, and an outage must become the 503 page within a couple
// of seconds rather than hang the browser.
const (
	DefaultRedisDialTimeout  = 2 * time.Second
	DefaultRedisReadTimeout  = time.Second
	DefaultRedisWriteTimeout = time.Second
	DefaultRedisKeyPrefix    = "idp:"
	// maxRedisTimeout keeps a typo ("10m") from turning an outage into a hang.
	maxRedisTimeout = time.Minute
)

// RedisConfig is the `store.redis:` section: one Redis server (Addr) or a
// Sentinel-managed group (Sentinel), never both.
type RedisConfig struct {
	// Addr is host:port of a single Redis server, e.g. "10.0.0.5:6379".
	// Leave empty when Sentinel is used. No default.
	Addr string `yaml:"addr"`
	// Sentinel names the master group and where the sentinels listen; the
	// client asks them for the current master and follows failovers.
	Sentinel RedisSentinelConfig `yaml:"sentinel"`
	// Username is the Redis ACL user (Redis 6+). Default: none (the
	// "default" user when a password is set).
	Username string `yaml:"username"`
	// Password authenticates to Redis (AUTH). Default: none.
	Password string `yaml:"password"`
	// PasswordFile is read into Password by the config loader.
	PasswordFile string `yaml:"password_file"`
	// TLS encrypts the connections to Redis (and to the sentinels).
	TLS RedisTLSConfig `yaml:"tls"`
	// DB is the Redis logical database number. Default 0.
	DB int `yaml:"db"`
	// DialTimeout bounds connecting to Redis or a sentinel. Default 2s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// ReadTimeout bounds waiting for one reply. Default 1s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds sending one command. Default 1s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// KeyPrefix starts every key the idp writes, so that one Redis can hold
	// several deployments (each with its own prefix). Default "idp:".
	KeyPrefix string `yaml:"key_prefix"`
}

// RedisSentinelConfig is `store.redis.sentinel:`.
type RedisSentinelConfig struct {
	// MasterName is the group name the sentinels monitor ("sentinel
	// monitor <name> ..." in sentinel.conf). No default.
	MasterName string `yaml:"master_name"`
	// Addrs lists the sentinels as host:port; three or more on separate
	// machines survive the loss of one. No default.
	Addrs []string `yaml:"addrs"`
}

// RedisTLSConfig is `store.redis.tls:`.
type RedisTLSConfig struct {
	// Enabled turns TLS on (Redis "tls-port"). Default false.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of the CAs that sign the Redis certificates.
	// Default: the system roots.
	CAFile string `yaml:"ca_file"`
	// ServerName is the name the Redis certificate must carry. Default: the
	// host of the address dialled.
	ServerName string `yaml:"server_name"`
}

// SetDefaults fills zero values with the documented defaults.
func (c *RedisConfig) SetDefaults() {
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultRedisDialTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultRedisReadTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultRedisWriteTimeout
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultRedisKeyPrefix
	}
}

// Validate reports every problem at once, keys relative to the section.
func (c *RedisConfig) Validate() idp.Problems {
	var ps idp.Problems
	sentinel := c.Sentinel.MasterName != "" || len(c.Sentinel.Addrs) > 0
	switch {
	case c.Addr != "" && sentinel:
		ps.Addf("addr", "set either addr (one Redis server) or sentinel (a Sentinel group), not both")
	case c.Addr == "" && !sentinel:
		ps.Addf("addr", "set addr (host:port of one Redis server) or sentinel.master_name and sentinel.addrs")
	case c.Addr != "":
		checkHostPort(&ps, "addr", c.Addr)
	default:
		if c.Sentinel.MasterName == "" {
			ps.Addf("sentinel.master_name", "set the master group name the sentinels monitor, e.g. \"idp\"")
		}
		if len(c.Sentinel.Addrs) == 0 {
			ps.Addf("sentinel.addrs", "list the sentinels as host:port (three or more for a quorum)")
		}
		for i, a := range c.Sentinel.Addrs {
			checkHostPort(&ps, "sentinel.addrs["+strconv.Itoa(i)+"]", a)
		}
	}
	if c.Username != "" && c.Password == "" {
		ps.Addf("username", "an ACL username needs password or password_file")
	}
	if !c.TLS.Enabled && (c.TLS.CAFile != "" || c.TLS.ServerName != "") {
		ps.Addf("tls.enabled", "ca_file and server_name take effect only with tls.enabled: true")
	}
	if c.DB < 0 {
		ps.Addf("db", "must be 0 or more (got %d); default 0", c.DB)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
		def time.Duration
	}{
		{"dial_timeout", c.DialTimeout, DefaultRedisDialTimeout},
		{"read_timeout", c.ReadTimeout, DefaultRedisReadTimeout},
		{"write_timeout", c.WriteTimeout, DefaultRedisWriteTimeout},
	} {
		if d.v <= 0 || d.v > maxRedisTimeout {
			ps.Addf(d.key, "must be more than 0 and at most %s (got %s); default %s", maxRedisTimeout, d.v, d.def)
		}
	}
	return ps
}

func checkHostPort(ps *idp.Problems, key, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		ps.Addf(key, "must be host:port, e.g. \"redis.corp.example.com:6379\" (got %q)", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		ps.Addf(key, "port must be a number from 1 to 65535 (got %q)", port)
	}
}
