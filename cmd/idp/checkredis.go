package main

import (
	"context"
	"strings"

	"github.com/ncp-sso/idp/idp/store"
	"github.com/ncp-sso/idp/idp/store/redisstore"
)

// checkRedis proves the shared Redis (or the current master of the Sentinel
// group) answers with the configured credentials.
func checkRedis(cfg store.RedisConfig) checkResult {
	what := "state store redis " + cfg.Addr
	if cfg.Sentinel.MasterName != "" {
		what = "state store redis sentinel " + cfg.Sentinel.MasterName + " via " + strings.Join(cfg.Sentinel.Addrs, ", ")
	}
	b, err := redisstore.OpenConfig(cfg)
	if err != nil {
		return checkResult{what: what, detail: err.Error(), fix: "fix store.redis.tls.ca_file"}
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.DialTimeout+cfg.ReadTimeout)
	defer cancel()
	if err := b.Check(ctx); err != nil {
		return checkResult{what: what, detail: err.Error(),
			fix: "check that Redis (or the sentinels) run and are reachable from this host, and store.redis.password/username/tls"}
	}
	return checkResult{ok: true, what: what, detail: "answers PING"}
}
