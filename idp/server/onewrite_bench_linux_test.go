//go:build linux

package server

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
)

// BenchmarkPage serves the auto-POST page's size (13 KiB) over loopback on
// a kept-alive connection, through the server's own listener (spConn),
// in one write (onePiece) and as net/http writes it (two). The time is
// both ends' in one process on one CPU: 24.7-26.1 against 26.8-27.7 us
// per page (-cpu 1, three runs each). With the reader on another CPU, as
// in idpbench, each write also wakes it, and the IdP's profile put a
// write at about 9 us.
func BenchmarkPage(b *testing.B) {
	page := bytes.Repeat([]byte("0123456789abcdef"), 13<<10/16)
	send := func(w http.ResponseWriter) error {
		w.Header().Set("Content-Length", strconv.Itoa(len(page)))
		w.WriteHeader(http.StatusOK)
		_, err := w.Write(page)
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/one", func(w http.ResponseWriter, r *http.Request) {
		_ = onePiece(r, w, func() error { return send(w) })
	})
	mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) { _ = send(w) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ConnContext: withConn}
	go func() { _ = srv.Serve(wrapListener(ln)) }()
	defer srv.Close()
	for _, path := range []string{"/one", "/plain"} {
		b.Run(path[1:], func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			url := "http://" + ln.Addr().String() + path
			b.ReportAllocs()
			for b.Loop() {
				res, err := client.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if err != nil || n != int64(len(page)) {
					b.Fatalf("%d bytes, %v", n, err)
				}
			}
		})
	}
}
