//go:build pprof

package main

// Built only with `-tags pprof` (make bench-profile): the profiling
// endpoints of net/http/pprof on IDP_PPROF_ADDR, a loopback address, so
// that `go tool pprof` can profile the IdP process under load. Release
// builds do not contain this file.

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("IDP_PPROF_ADDR")
	if addr == "" {
		return
	}
	if host, _, err := net.SplitHostPort(addr); err != nil || !net.ParseIP(host).IsLoopback() {
		slog.Error("pprof_refused", "addr", addr, "reason", "IDP_PPROF_ADDR must be a loopback host:port")
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		slog.Error("pprof_listen_failed", "addr", addr, "err", err)
		return
	}
	go func() { _ = http.Serve(ln, mux) }()
}
