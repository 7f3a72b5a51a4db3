package proxy

import (
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/metrics"
)

// BenchmarkSiteGET measures the proxy path of one small GET: routing,
// headers, the upstream round trip over a kept-alive loopback connection and
// copying the answer. The client side (TLS, the server's parsing) is not
// included: bench/run.sh measures the whole gateway against nginx.
//
// The "metrics" variant adds the Prometheus observer (admin listener on).
func BenchmarkSiteGET(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchSite(b, nil, "GET", nil) })
	b.Run("metrics", func(b *testing.B) {
		m, err := metrics.New(nil)
		if err != nil {
			b.Fatal(err)
		}
		benchSite(b, m, "GET", nil)
	})
}

// BenchmarkSitePOST is BenchmarkSiteGET for a small POST, which takes the
// httputil.ReverseProxy path to the same upstream transport (a body is
// not the direct path's).
func BenchmarkSitePOST(b *testing.B) {
	benchSite(b, nil, "POST", []byte(`{"order":123,"items":[1,2,3]}`))
}

// benchBody is a request body that can be read again after Reset, so
// that the benchmark loop allocates none.
type benchBody struct{ bytes.Reader }

func (*benchBody) Close() error { return nil }

func benchSite(b *testing.B, obs Observer, method string, payload []byte) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"status":"ok","service":"bench","n":1234567890,"ok":true}` + "\n")
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})}
	go up.Serve(ln)
	defer up.Close()

	site, err := NewSite(SiteConfig{
		Name:   "bench",
		HSTS:   HSTS{MaxAge: 31536000, IncludeSubDomains: true},
		Routes: []RouteConfig{{Path: "/", Upstreams: []string{"http://" + ln.Addr().String()}}},
	}, &Options{
		Log:              slog.New(slog.DiscardHandler),
		UpstreamConnect:  time.Second,
		UpstreamResponse: 5 * time.Second,
		BodyRead:         time.Minute,
		Observer:         obs,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer site.Close()
	req := httptest.NewRequest(method, "https://bench/api/x", nil)
	req.TLS = &tls.ConnectionState{Version: tls.VersionTLS13, ServerName: "bench"}
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "bench/1")
	reqBody := &benchBody{}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = int64(len(payload))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if payload != nil {
			reqBody.Reset(payload)
			req.Body = reqBody
		}
		w := &discardWriter{h: http.Header{}}
		site.ServeHTTP(w, req)
		if w.status != 200 {
			b.Fatalf("status %d", w.status)
		}
	}
}

type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return len(p), nil
}

var _ io.Writer = (*discardWriter)(nil)

// BenchmarkH1Peek measures the check before every reuse of a pooled
// upstream connection (h1Conn.alive: a non-blocking MSG_PEEK), the price
// of refusing unsolicited bytes, against the whole request in
// BenchmarkSiteGET.
func BenchmarkH1Peek(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			var buf [1]byte
			c.Read(buf[:]) // until the benchmark closes
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	c, err := newH1Conn(nc, ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !c.alive() {
			b.Fatal("an idle connection looks dead")
		}
	}
}

// BenchmarkEdgeChecks is the per-request cost of the request-path checks
// added for issue 13 on a common API request: the method token check,
// path normalisation (nothing to do for a normal path) and the upgrade
// filter.
func BenchmarkEdgeChecks(b *testing.B) {
	u, _ := url.Parse("/api/v1/orders/123?expand=items")
	h := http.Header{"Accept": {"application/json"}}
	b.ReportAllocs()
	for b.Loop() {
		if checkMethod("GET") != "" || normaliseURL(u) != "" {
			b.Fatal("refused")
		}
		if up := h["Upgrade"]; up != nil && !webSocketUpgrade(up) {
			b.Fatal("upgrade")
		}
	}
}

// BenchmarkSendConnWrite is what the send timeout adds to a write: a
// clock read, and a deadline push once a quarter of the timeout passed.
func BenchmarkSendConnWrite(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg := make([]byte, 128)
	for _, tc := range []struct {
		name string
		w    io.Writer
	}{
		{"plain", c},
		{"send-timeout", &sendConn{TCPConn: c.(*net.TCPConn), d: time.Minute}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				tc.w.Write(msg)
			}
		})
	}
}
