//go:build !linux

package server

import "net"

// wrapListener is the identity here (see spconn_linux.go).
func wrapListener(ln net.Listener) net.Listener { return ln }
