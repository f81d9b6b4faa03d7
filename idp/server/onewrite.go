package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/ncp-sso/idp/templates"
)

// One write per page.
//
// net/http buffers a response in 4 KiB: a page larger than that (the login
// page with its headers is some 7 KiB, the SAML auto-POST page 13 KiB)
// leaves in two writes on the socket, the first 4 KiB while the handler
// is still writing and the rest when it returns. On loopback each write
// also runs the receiving side's TCP input, so a write costs the IdP
// about 9 µs of CPU (strace and pprof in idpbench, SAML at 64 browsers:
// two pages, four writes, 35 µs per login). The pages are whole before the
// first byte is written, so onePiece holds the connection's writes while
// net/http writes and flushes the page, and then writes it in one piece.

// pieceHolder is a connection that can hold its writes (spConn on Linux).
type pieceHolder interface {
	holdWrites()
	releaseWrites() error
}

// pieceHolderOf returns the connection that carries ctx's request, when it
// can hold its writes (under TLS: the connection beneath, so the page's
// records leave together).
func pieceHolderOf(ctx context.Context) pieceHolder {
	c, _ := ctx.Value(connKey{}).(net.Conn)
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	h, _ := c.(pieceHolder)
	return h
}

// onePiece runs write, which writes a whole response to r (status,
// headers with a Content-Length, body) on w, and sends it in one write on
// the connection. Without a holding connection it is just write, and so
// it is for HTTP/2 (not served today): there a separate goroutine writes
// the frames, and a held connection could hold back the flow-control
// window update that the handler's own flush waits for.
func onePiece(r *http.Request, w http.ResponseWriter, write func() error) error {
	h := pieceHolderOf(r.Context())
	if h == nil || r.ProtoMajor != 1 {
		return write()
	}
	h.holdWrites()
	err := write()
	if err == nil {
		// What net/http still buffers goes to the held connection. A
		// writer that cannot flush (none of ours) leaves it for net/http
		// to write after the handler, behind the held part: in order,
		// just not in one piece.
		if ferr := http.NewResponseController(w).Flush(); ferr != nil && !errors.Is(ferr, http.ErrNotSupported) {
			err = ferr
		}
	}
	if rerr := h.releaseWrites(); err == nil {
		err = rerr
	}
	return err
}

// heldWrites is the holding part of a connection: while held, its writes
// collect in a pooled buffer, and release writes them at once. The mutex
// keeps the order of bytes when another goroutine writes meanwhile (a TLS
// connection answering a key update from its reader).
type heldWrites struct {
	mu   sync.Mutex
	held bool
	buf  *bytes.Buffer
}

func (g *heldWrites) write(w io.Writer, p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held {
		return g.buf.Write(p)
	}
	return w.Write(p)
}

func (g *heldWrites) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.held = true
	if g.buf == nil {
		g.buf = templates.GetBuffer()
	}
}

func (g *heldWrites) release(w io.Writer) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.held = false
	buf := g.buf
	if buf == nil {
		return nil
	}
	g.buf = nil
	defer templates.PutBuffer(buf)
	if buf.Len() == 0 {
		return nil
	}
	_, err := w.Write(buf.Bytes())
	return err
}
