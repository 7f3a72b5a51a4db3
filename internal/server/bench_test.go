package server

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
)

// BenchmarkGatewayGET is the whole HTTP/1.1 path as served: a TLS client
// on loopback sends keep-alive GETs to a gateway built from a config file
// as `tlsgate serve` builds it (h1, the handler chain, the proxy's direct
// path), which forwards them over a pooled connection to a local net/http
// upstream answering 66 bytes, like bench/run.sh's backend.
//
// Client and upstream run in this process: ns/op, allocs/op and B/op
// include theirs (net/http's upstream server, the client's TLS and
// http.ReadResponse). Profile with -memprofile to tell them apart.
//
//   - "proxy": the config `tlsgate proxy --access-log=false` builds, as
//     bench/run.sh runs it (HTTP/3 on, so Alt-Svc is set; no admin).
//   - "serve": the same with the access log and the admin listener
//     (Prometheus metrics) on; the log is JSON at info level, written to
//     io.Discard, so each request's line is formatted as in production.
func BenchmarkGatewayGET(b *testing.B) {
	body := []byte(`{"ok":true,"service":"tlsgate-bench-backend","payload":"0123456"}` + "\n")
	upstream := newLoopbackServer(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))

	p := newPKI(b, "localhost", "127.0.0.1")
	for _, v := range []struct {
		name, extra string
		log         slog.Handler
	}{
		{"proxy", "log: {access: false, format: json}\n", slog.DiscardHandler},
		{"serve", "log: {access: true, format: json}\nadmin: {listen: \"127.0.0.1:0\"}\n", slog.NewJSONHandler(io.Discard, nil)},
	} {
		b.Run(v.name, func(b *testing.B) {
			yaml := fmt.Sprintf(`
listen: {https: "127.0.0.1:0", http: off}
sites:
  - hosts: [localhost, 127.0.0.1]
    default: true
    tls: {certificate: {cert: %s, key: %s}}
    routes: [{path: /, upstreams: [%s]}]
%s`, p.certFile, p.keyFile, upstream, v.extra)
			addr := benchGateway(b, yaml, slog.New(v.log))
			c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: p.ca.Pool(), ServerName: "localhost", NextProtos: []string{"http/1.1"}})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			req := []byte("GET /api/x HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\nUser-Agent: bench/1\r\n\r\n")
			get := func() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || n != int64(len(body)) {
					b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
				}
			}
			get() // the upstream connection
			b.ReportAllocs()
			for b.Loop() {
				get()
			}
		})
	}
}

// benchGateway serves yaml, logging to log, until b ends and returns its
// HTTPS address.
func benchGateway(b *testing.B, yaml string, log *slog.Logger) string {
	return startGatewayOpts(b, yaml, Options{Log: log}).https
}
