package server

import (
	"context"
	"crypto/tls"
	"net"
)

type connKey struct{}

// withConn is http.Server.ConnContext: it keeps the connection in each
// request's context so that a back-channel route can mark it.
func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// markBackChannel tells the connection that carried ctx's request that it
// is an SP's (see spConn). Other connections, and other platforms, are
// left as they are.
func markBackChannel(ctx context.Context) {
	c, _ := ctx.Value(connKey{}).(net.Conn)
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if m, ok := c.(interface{ markBackChannel() }); ok {
		m.markBackChannel()
	}
}
