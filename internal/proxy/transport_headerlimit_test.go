package proxy

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts the bytes the gateway reads from an upstream.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestUpstreamHeaderLimit: an upstream that streams an endless response
// header gets its connection closed once the limit is read, and the client
// a 502 saying why, on the direct path, the ReverseProxy path and the
// fallback http.Transport (an upgrade request). The gateway reads no more
// than the limit from the socket, and allocates a bounded amount: without
// a limit, a 256 MiB header took it from 31 MB to 1.2 GB of memory.
//
// Not parallel: it measures the process's allocations.
func TestUpstreamHeaderLimit(t *testing.T) {
	const (
		limit = 1 << 20 // the default
		sent  = 64 << 20
	)
	for _, kind := range []string{"direct", "reverse proxy", "fallback"} {
		t.Run(kind, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			written := make(chan int64, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					written <- 0
					return
				}
				defer c.Close()
				c.(*net.TCPConn).SetWriteBuffer(64 << 10)
				c.SetDeadline(time.Now().Add(20 * time.Second))
				br := bufio.NewReader(c)
				for { // the request head; any body is left unread
					line, err := br.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				n, _ := c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Big: "))
				total := int64(n)
				chunk := []byte(strings.Repeat("a", 64<<10))
				for total < sent {
					n, err := c.Write(chunk)
					total += int64(n)
					if err != nil {
						break
					}
				}
				if total >= sent {
					c.Write([]byte("\r\n\r\n"))
				}
				written <- total
			}()

			s := newTestSite(t, nil, RouteConfig{Path: "/", Upstreams: []string{"http://" + ln.Addr().String()}})
			var read atomic.Int64
			count := func(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
				return func(ctx context.Context, network, addr string) (net.Conn, error) {
					c, err := dial(ctx, network, addr)
					if err != nil {
						return nil, err
					}
					return countingConn{Conn: c, n: &read}, nil
				}
			}
			rt := s.routes[0]
			rt.transport.DialContext = count(rt.transport.DialContext)
			rt.transport.fallback.DialContext = count(rt.transport.fallback.DialContext)
			r := httptest.NewRequest("GET", "https://example.com/x", nil)
			switch kind {
			case "reverse proxy":
				rt.direct = false
				r = httptest.NewRequest("POST", "https://example.com/x", strings.NewReader(`{"a":1}`))
			case "fallback":
				r.Header.Set("Connection", "Upgrade")
				r.Header.Set("Upgrade", "websocket")
			}

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			resp := serve(s, r)
			took := time.Since(start)
			runtime.ReadMemStats(&after)

			checkError(t, resp, http.StatusBadGateway, "the upstream sent too big a header")
			if took > 5*time.Second {
				t.Errorf("the 502 took %v", took)
			}
			select {
			case n := <-written:
				if n >= sent {
					t.Errorf("the upstream could write all %d bytes: the gateway kept reading", n)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the gateway did not close the upstream connection")
			}
			t.Logf("502 in %v; the gateway read %d bytes; the exchange allocated %d bytes", took, read.Load(), after.TotalAlloc-before.TotalAlloc)
			if n := read.Load(); n > limit+4096 {
				t.Errorf("the gateway read %d bytes from the upstream, limit %d", n, limit)
			}
			if a := after.TotalAlloc - before.TotalAlloc; a > 16*limit {
				t.Errorf("the exchange allocated %d bytes for a %d-byte header limit", a, limit)
			}
		})
	}
}
