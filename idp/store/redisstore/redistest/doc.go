// Package redistest runs real redis-server processes (Debian's redis-server
// package) for tests: a standalone server, replicas, and sentinels.
//
// Start writes a redis.conf into a t.TempDir (loopback only, no RDB
// snapshots, optional password, AOF or TLS through options), starts
// redis-server in the foreground on a free loopback port and waits until it
// answers PING. Every process is stopped by PID in t.Cleanup and, on Linux,
// killed by the kernel if the test binary dies first (Pdeathsig). Stop, Kill
// and Restart let a test simulate an outage on the same address.
//
// StartReplica and StartSentinel build a Sentinel group on loopback: one
// master, its replicas, and sentinels (redis-server --sentinel, which is what
// Debian's redis-sentinel runs) that monitor it.
//
// When redis-server is not installed a test is skipped with a hint
// ("apt-get install redis-server"), except when CI or IDP_REQUIRE_PEERS is
// set: then the test fails, so that CI never passes by running nothing.
package redistest
