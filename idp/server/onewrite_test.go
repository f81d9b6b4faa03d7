package server

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// writeLog counts and keeps the writes that reach it.
type writeLog struct {
	mu     sync.Mutex
	writes [][]byte
}

func (r *writeLog) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

// TestHeldWrites: held writes leave together and in order on release;
// other writes pass straight through.
func TestHeldWrites(t *testing.T) {
	var g heldWrites
	var out writeLog
	if _, err := g.write(&out, []byte("a")); err != nil || len(out.writes) != 1 {
		t.Fatalf("unheld write: %v, %d writes", err, len(out.writes))
	}
	g.hold()
	for _, p := range []string{"b", "cd", "e"} {
		if n, err := g.write(&out, []byte(p)); n != len(p) || err != nil {
			t.Fatalf("held write %q: %d, %v", p, n, err)
		}
	}
	if len(out.writes) != 1 {
		t.Fatalf("held writes reached the connection: %q", out.writes)
	}
	if err := g.release(&out); err != nil {
		t.Fatal(err)
	}
	if len(out.writes) != 2 || string(out.writes[1]) != "bcde" {
		t.Fatalf("after release: %q", out.writes)
	}
	// A release with nothing held, or twice, writes nothing.
	g.hold()
	if err := g.release(&out); err != nil || len(out.writes) != 2 {
		t.Fatalf("empty release: %v, %q", err, out.writes)
	}
	if err := g.release(&out); err != nil || len(out.writes) != 2 {
		t.Fatalf("second release: %v, %q", err, out.writes)
	}
}

// holdingConn is a server connection that can hold its writes, as spConn
// does on Linux, and counts the writes that reach the socket.
type holdingConn struct {
	net.Conn
	pieces heldWrites
	writes *atomic.Int32
}

type countedConn struct {
	net.Conn
	writes *atomic.Int32
}

func (c countedConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

func (c *holdingConn) Write(p []byte) (int, error) {
	return c.pieces.write(countedConn{c.Conn, c.writes}, p)
}
func (c *holdingConn) holdWrites() { c.pieces.hold() }
func (c *holdingConn) releaseWrites() error {
	return c.pieces.release(countedConn{c.Conn, c.writes})
}

type holdingListener struct {
	net.Listener
	writes *atomic.Int32
}

func (l holdingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &holdingConn{Conn: c, writes: l.writes}, nil
}

// TestOnePiece: a 13 KiB page written through onePiece reaches the socket
// in one write, whole and intact, on a kept-alive connection; the same
// page written plainly takes more than one (net/http's 4 KiB buffer).
func TestOnePiece(t *testing.T) {
	page := bytes.Repeat([]byte("0123456789abcdef"), 13<<10/16)
	var writes atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	send := func(w http.ResponseWriter) error {
		w.Header().Set("Content-Length", strconv.Itoa(len(page)))
		w.WriteHeader(http.StatusOK)
		_, err := w.Write(page)
		return err
	}
	mux.HandleFunc("/one", func(w http.ResponseWriter, r *http.Request) {
		if err := onePiece(r, w, func() error { return send(w) }); err != nil {
			t.Error(err)
		}
	})
	mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) { _ = send(w) })
	srv := &http.Server{Handler: mux, ConnContext: withConn}
	go func() { _ = srv.Serve(holdingListener{ln, &writes}) }()
	t.Cleanup(func() { srv.Close() })

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	get := func(path string) int32 {
		t.Helper()
		before := writes.Load()
		res, err := client.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || !bytes.Equal(body, page) || res.ContentLength != int64(len(page)) || len(res.TransferEncoding) != 0 {
			t.Fatalf("%s: %d bytes, length %d, %v, %v", path, len(body), res.ContentLength, res.TransferEncoding, err)
		}
		return writes.Load() - before
	}
	for i := range 3 {
		if n := get("/one"); n != 1 {
			t.Fatalf("request %d: the page took %d writes", i, n)
		}
	}
	if n := get("/plain"); n < 2 {
		t.Fatalf("plain page took %d writes; the test no longer shows the difference", n)
	}
}

// countingHolder counts holds, for onePiece's choice of when to hold.
type countingHolder struct {
	net.Conn
	holds int
}

func (c *countingHolder) holdWrites()          { c.holds++ }
func (c *countingHolder) releaseWrites() error { return nil }

// TestOnePieceOnlyHTTP1: an HTTP/2 request (another goroutine writes its
// frames) and a connection that cannot hold are written as they are.
func TestOnePieceOnlyHTTP1(t *testing.T) {
	for _, tt := range []struct {
		major, holds int
	}{{1, 1}, {2, 0}} {
		c := &countingHolder{}
		r, _ := http.NewRequestWithContext(withConn(t.Context(), c), http.MethodGet, "/", nil)
		r.ProtoMajor = tt.major
		wrote := false
		if err := onePiece(r, nil, func() error { wrote = true; return errors.New("client gone") }); err == nil || !wrote {
			t.Fatalf("HTTP/%d: write ran %v, error %v", tt.major, wrote, err)
		}
		if c.holds != tt.holds {
			t.Fatalf("HTTP/%d: %d holds, want %d", tt.major, c.holds, tt.holds)
		}
	}
	r, _ := http.NewRequestWithContext(withConn(t.Context(), &net.TCPConn{}), http.MethodGet, "/", nil)
	if err := onePiece(r, nil, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
}
