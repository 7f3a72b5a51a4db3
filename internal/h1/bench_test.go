package h1

import (
	"bufio"
	"crypto/tls"
	"io"
	"net/http"
	"testing"
)

// BenchmarkServe: keep-alive GETs on one TLS connection over loopback,
// answered by a 66-byte handler, served by net/http's server and by this
// one. Client and server run in this process, so ns/op and allocs/op
// include the client's (the same on both sides); bench/run.sh measures
// the whole gateway against nginx.
func BenchmarkServe(b *testing.B) {
	body := []byte(`{"ok":true,"service":"tlsgate-bench-backend","payload":"0123456"}` + "\n")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	p := newPair(b, h)
	for _, side := range []struct{ name, addr string }{{"net-http", p.std}, {"h1", p.fast}} {
		b.Run(side.name, func(b *testing.B) {
			c, err := tls.Dial("tcp", side.addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			req := []byte("GET /x HTTP/1.1\r\nHost: bench\r\nAccept: application/json\r\nUser-Agent: bench/1\r\n\r\n")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}
