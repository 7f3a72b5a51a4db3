package h1

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The differential tests send the same bytes to net/http's server and to
// this one (each with the same handlers) and compare the bytes that come
// back, Date values aside.

var (
	certOnce sync.Once
	testCert tls.Certificate
)

func serverTLS(t testing.TB) *tls.Config {
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		testCert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	})
	return &tls.Config{Certificates: []tls.Certificate{testCert}, NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12}
}

// pair is net/http's server and this one, serving the same handler.
type pair struct {
	std, fast string
	n         *counts
	// parked is a second h1 server whose idle connections wait on the
	// socket at once (parkAfter 1 ns; idlewait.go), so that the
	// differential tests cover that wait as well as the one in
	// tls.Conn.Read.
	parked string
	pn     *counts
}

// h1s are the pair's h1 servers.
func (p *pair) h1s() []string { return []string{p.fast, p.parked} }

// counts tells which path served: requests this server answered itself,
// connections it handed to Fallback.
type counts struct{ served, handed atomic.Int64 }

// startH1 starts a Server and its Fallback on 127.0.0.1, serving h.
func startH1(t testing.TB, h http.Handler, readHeader, idle time.Duration) (string, *Server, *counts) {
	t.Helper()
	return startH1Park(t, h, readHeader, idle, 0)
}

// startH1Park is startH1 with the server's parkAfter (idlewait.go).
func startH1Park(t testing.TB, h http.Handler, readHeader, idle, parkAfter time.Duration) (string, *Server, *counts) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	quiet := log.New(io.Discard, "", 0)
	cfg := serverTLS(t)
	n := &counts{}
	served := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(*response); ok {
			n.served.Add(1)
		}
		h.ServeHTTP(w, r)
	})
	fb := &http.Server{Handler: h, ReadHeaderTimeout: readHeader, IdleTimeout: idle, ErrorLog: quiet, TLSConfig: cfg.Clone(),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				n.handed.Add(1)
			}
		}}
	srv := &Server{Handler: served, Fallback: fb, TLSConfig: cfg, ReadHeaderTimeout: readHeader, IdleTimeout: idle, ErrorLog: quiet, parkAfter: parkAfter}
	go fb.Serve(srv.Handoff())
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		fb.Close()
	})
	return ln.Addr().String(), srv, n
}

func newPair(t testing.TB, h http.Handler) *pair {
	t.Helper()
	stdLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := serverTLS(t)
	std := &http.Server{Handler: h, ReadHeaderTimeout: 2 * time.Second, IdleTimeout: 2 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0), TLSConfig: cfg.Clone()}
	go std.Serve(tls.NewListener(stdLn, cfg))
	t.Cleanup(func() { std.Close() })
	fast, _, n := startH1(t, h, 2*time.Second, 2*time.Second)
	parked, _, pn := startH1Park(t, h, 2*time.Second, 2*time.Second, time.Nanosecond)
	return &pair{std: stdLn.Addr().String(), fast: fast, n: n, parked: parked, pn: pn}
}

// exchange sends raw on a new HTTP/1.1 connection, closes its sending
// side, and returns what came back until the server closed.
func exchange(t testing.TB, addr string, raw []byte) []byte {
	t.Helper()
	return exchangeIn(t, addr, raw, len(raw))
}

// exchangeBytes is exchange with every byte in a TLS record of its own.
func exchangeBytes(t testing.TB, addr string, raw []byte) []byte {
	t.Helper()
	return exchangeIn(t, addr, raw, 1)
}

// exchangeIn is exchange writing raw in pieces of at most chunk bytes,
// each a TLS record of its own.
func exchangeIn(t testing.TB, addr string, raw []byte, chunk int) []byte {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	go func() {
		for len(raw) > 0 {
			n := max(1, min(chunk, len(raw)))
			if _, err := c.Write(raw[:n]); err != nil {
				return
			}
			raw = raw[n:]
		}
		c.CloseWrite()
	}()
	out, _ := io.ReadAll(c)
	return out
}

var dateRE = regexp.MustCompile(`(?m)^Date: [A-Za-z]{3}, \d\d [A-Za-z]{3} \d{4} \d\d:\d\d:\d\d GMT\r$`)

func normalise(b []byte) string {
	return dateRE.ReplaceAllString(string(b), "Date: DATE\r")
}

// behaviours are the handlers the differential tests serve, by path.
func behaviours() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(bytes.Repeat([]byte("0123456789"), 500))
	})
	mux.HandleFunc("/big-small", func(w http.ResponseWriter, r *http.Request) {
		for range 300 {
			io.WriteString(w, "0123456789abcdef")
		}
	})
	mux.HandleFunc("/exact2048", func(w http.ResponseWriter, r *http.Request) { w.Write(bytes.Repeat([]byte("x"), 2048)) })
	mux.HandleFunc("/split", func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("a"), 1500))
		w.Write(bytes.Repeat([]byte("b"), 3000))
		w.Write(bytes.Repeat([]byte("c"), 100))
	})
	mux.HandleFunc("/cl", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		io.WriteString(w, "hello")
	})
	mux.HandleFunc("/cl-short", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "hello")
	})
	mux.HandleFunc("/cl-long", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "3")
		_, err := io.WriteString(w, "hello")
		w.Header().Set("X-Err", fmt.Sprint(err))
	})
	mux.HandleFunc("/cl-bad", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "-1")
		io.WriteString(w, "hello")
	})
	mux.HandleFunc("/204", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		w.WriteHeader(204)
		_, err := io.WriteString(w, "hello")
		if err != http.ErrBodyNotAllowed {
			panic(err)
		}
	})
	mux.HandleFunc("/304", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "5")
		w.Header().Set("ETag", `"x"`)
		w.WriteHeader(304)
	})
	mux.HandleFunc("/trailer", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-One, Content-Length, X-Two")
		io.WriteString(w, "body")
		w.Header().Set("X-One", "1")
		w.Header().Set("X-Two", "2")
		w.Header().Set(http.TrailerPrefix+"X-Three", "3")
	})
	mux.HandleFunc("/trailer-prefix-only", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "body")
		w.(http.Flusher).Flush()
		w.Header().Set(http.TrailerPrefix+"X-Three", "3")
	})
	mux.HandleFunc("/flush", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a")
		w.(http.Flusher).Flush()
		io.WriteString(w, "b")
	})
	mux.HandleFunc("/flush-empty", func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush()
	})
	mux.HandleFunc("/rc-flush", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(201)
		if err := http.NewResponseController(w).Flush(); err != nil {
			panic(err)
		}
		if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Second)); err != nil {
			panic(err)
		}
		io.WriteString(w, "x")
	})
	mux.HandleFunc("/1xx", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.Header().Set("Content-Length", "9")
		w.WriteHeader(103)
		w.WriteHeader(100)
		w.Header().Del("Link")
		w.Header().Set("Content-Length", "2")
		w.WriteHeader(200)
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/late", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Early", "1")
		w.WriteHeader(200)
		h.Set("X-Late", "1")
		w.Header().Set("X-Later", "1")
		io.WriteString(w, "x")
	})
	mux.HandleFunc("/late-nocall", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(202)
		w.Header().Set("X-Late", "1")
		io.WriteString(w, "x")
	})
	mux.HandleFunc("/twice", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(201)
		w.WriteHeader(500)
	})
	mux.HandleFunc("/te-identity", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Transfer-Encoding", "identity")
		io.WriteString(w, "abc")
	})
	mux.HandleFunc("/te-chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Transfer-Encoding", "chunked")
		io.WriteString(w, "abc")
	})
	mux.HandleFunc("/te-cl", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Transfer-Encoding", "gzip")
		w.Header().Set("Content-Length", "3")
		io.WriteString(w, "abc")
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	mux.HandleFunc("/conn-other", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "keep-alive, Close")
		io.WriteString(w, "bye")
	})
	mux.HandleFunc("/sniff", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html><body>x</body></html>") })
	mux.HandleFunc("/nosniff", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil
		io.WriteString(w, "<html>")
	})
	mux.HandleFunc("/ce", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		io.WriteString(w, "<html>")
	})
	mux.HandleFunc("/newline", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-Split"] = []string{"a\r\nSet-Cookie: evil=1", " b \n c "}
		w.Header()["Bad Name"] = []string{"x"}
		w.Header()["X-Ctl"] = []string{"a\x00b\x7fc"}
		io.WriteString(w, "x")
	})
	mux.HandleFunc("/status/", func(w http.ResponseWriter, r *http.Request) {
		var code int
		fmt.Sscanf(strings.TrimPrefix(r.URL.Path, "/status/"), "%d", &code)
		if code < 100 || code > 999 {
			code = 299
		}
		w.WriteHeader(code)
		io.WriteString(w, "s")
	})
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		panic("boom")
	})
	mux.HandleFunc("/abort", func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush()
		io.WriteString(w, "partial")
		panic(http.ErrAbortHandler)
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/hijack", func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nh")
		rw.Flush()
		c.Close()
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Echo what the handler sees.
		keys := make([]string, 0, len(r.Header))
		for k := range r.Header {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		fmt.Fprintf(w, "%s %q %q %s cl=%d te=%q close=%v tls=%v local=%v srv=%v form=%q\n",
			r.Method, r.RequestURI, r.Host, r.Proto, r.ContentLength, r.TransferEncoding, r.Close,
			r.TLS != nil, r.Context().Value(http.LocalAddrContextKey) != nil,
			r.Context().Value(http.ServerContextKey) != nil, r.URL.RawQuery)
		for _, k := range keys {
			fmt.Fprintf(w, "%s: %q\n", k, r.Header[k])
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		fmt.Fprintf(w, "body %q %v trailer=%v\n", body, err, r.Trailer)
	})
	return mux
}

// requests are raw request sequences: each is sent on one connection.
var requests = []string{
	"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /plain HTTP/1.1\r\nHost: a\r\n\r\nGET /plain HTTP/1.1\r\nHost: a\r\n\r\n",
	"HEAD /plain HTTP/1.1\r\nHost: a\r\n\r\n",
	"DELETE /x?y=1&z HTTP/1.1\r\nHost: a:443\r\nAccept: */*\r\nX-A: 1\r\nX-A: 2\r\n\r\n",
	"OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: \r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX-Bad\x01: 1\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX-Bad: a\x01b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX-Fold: a\r\n b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /plain HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nExpect: fancy\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /plain HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
	"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
	"GET / HTTP/1.0\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /plain HTTP/1.0\r\n\r\n",
	"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	"GET http://b/x HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET http://b/x HTTP/1.1\r\n\r\n",
	"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
	"get / HTTP/1.1\r\nHost: a\r\n\r\n",
	"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\nHost: a\n\n",
	"GET / HTTP/1.1\r\nHost: a\n\r\n",
	"GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /a%2Fb?x=%zz;y HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("v", 5000) + "\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("v", 4060) + "\r\n\r\n",
	"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\n",
	"GET / HTTP/1.1\r\nHo",
	"",
	"GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nxGET /plain HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nTrailer: X\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n",
	"GET / HTTP/1.1\r\nhost: a\r\nx-lower: 1\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\n : empty name\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX:\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX :1\r\n\r\n",
	"GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nHttp2-Settings: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\r\n",
}

func TestDifferential(t *testing.T) {
	p := newPair(t, behaviours())
	var raws []string
	raws = append(raws, requests...)
	paths := []string{"/plain", "/big", "/big-small", "/exact2048", "/split", "/cl", "/cl-short", "/cl-long", "/cl-bad",
		"/204", "/304", "/trailer", "/trailer-prefix-only", "/flush", "/flush-empty", "/rc-flush", "/1xx", "/late",
		"/late-nocall", "/twice", "/te-identity", "/te-chunked", "/te-cl", "/close", "/conn-other", "/sniff", "/nosniff",
		"/ce", "/newline", "/status/200", "/status/599", "/status/999", "/status/101", "/status/204", "/status/304",
		"/status/100", "/status/418", "/panic", "/abort", "/empty", "/hijack"}
	for _, path := range paths {
		for _, m := range []string{"GET", "HEAD"} {
			raws = append(raws,
				m+" "+path+" HTTP/1.1\r\nHost: a\r\n\r\n"+"GET /plain HTTP/1.1\r\nHost: a\r\n\r\n",
				m+" "+path+" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		}
	}
	for _, raw := range raws {
		std := normalise(exchange(t, p.std, []byte(raw)))
		for _, addr := range p.h1s() {
			fast := normalise(exchange(t, addr, []byte(raw)))
			if std != fast {
				t.Errorf("request %q (h1 at %s):\n%s", raw, addr, firstDiff(std, fast))
			}
		}
	}
	// Both paths ran: most of the requests above are served here, the
	// rest handed over.
	for _, n := range []*counts{p.n, p.pn} {
		served, handed := n.served.Load(), n.handed.Load()
		t.Logf("served here: %d requests; handed to net/http: %d connections", served, handed)
		if served < 150 || handed < 20 {
			t.Errorf("served %d, handed %d: the test no longer exercises both paths", served, handed)
		}
	}
}

// firstDiff shows where two answers part, with a little context.
func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-300)
	return fmt.Sprintf("net/http (%d bytes): …%q…\nh1       (%d bytes): …%q…", len(a), a[from:min(len(a), i+200)], len(b), b[from:min(len(b), i+200)])
}

// FuzzDifferential: any bytes, as the request stream of one connection.
func FuzzDifferential(f *testing.F) {
	for _, r := range requests {
		f.Add([]byte(r))
	}
	f.Add([]byte("GET /trailer HTTP/1.1\r\nHost: a\r\n\r\nHEAD /big HTTP/1.1\r\nHost: a\r\n\r\n"))
	f.Add([]byte("GET /1xx HTTP/1.1\r\nHost: a\r\n\r\nGET /newline HTTP/1.1\r\nHost: a\r\n\r\n"))
	p := newPair(f, behaviours())
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 16<<10 || bytes.Contains(raw, []byte("/panic")) || bytes.Contains(raw, []byte("/hijack")) {
			// panics log, and hijack answers are the handler's own
			return
		}
		// Half the inputs go to the h1 server that waits on the socket.
		addr := p.h1s()[len(raw)%2]
		t0 := time.Now()
		std := normalise(exchange(t, p.std, raw))
		t1 := time.Now()
		fast := normalise(exchange(t, addr, raw))
		t2 := time.Now()
		if std != fast {
			t.Errorf("request %q:\n%s", raw, firstDiff(std, fast))
		}
		// A connection one server ends and the other holds open until a
		// timeout is a difference too (not a speed test: the margin is
		// most of a timeout).
		if d1, d2 := t1.Sub(t0), t2.Sub(t1); d2 > d1+1500*time.Millisecond || d1 > d2+1500*time.Millisecond {
			t.Errorf("request %q: net/http answered in %v, h1 in %v", raw, d1, d2)
		}
	})
}

// TestConnStateBalanced: every connection this server reports as new it
// reports once more as done, whether it served it, a handler took it,
// or it went to Fallback (HTTP/2, or a request with a body), and
// Fallback's own hook balances too: a count of open connections built
// on the two hooks returns to zero.
func TestConnStateBalanced(t *testing.T) {
	var mu sync.Mutex
	open := map[string]int{}
	hook := func(who string) func(net.Conn, http.ConnState) {
		return func(_ net.Conn, st http.ConnState) {
			mu.Lock()
			defer mu.Unlock()
			switch st {
			case http.StateNew:
				open[who]++
			case http.StateClosed, http.StateHijacked:
				open[who]--
			}
		}
	}
	h := behaviours()
	quiet := log.New(io.Discard, "", 0)
	cfg := serverTLS(t)
	fb := &http.Server{Handler: h, ErrorLog: quiet, TLSConfig: cfg.Clone(), ConnState: hook("fallback")}
	srv := &Server{Handler: h, Fallback: fb, TLSConfig: cfg, ErrorLog: quiet, ConnState: hook("h1"), IdleTimeout: time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go fb.Serve(srv.Handoff())
	go srv.Serve(ln)
	defer srv.Close()
	defer fb.Close()
	addr := ln.Addr().String()
	for _, raw := range []string{
		"GET /plain HTTP/1.1\r\nHost: a\r\n\r\n",                   // served here
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx", // handed over
		"GET /hijack HTTP/1.1\r\nHost: a\r\n\r\n",                  // taken by the handler
	} {
		exchange(t, addr, []byte(raw))
	}
	// HTTP/2, through net/http's client.
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	resp, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/plain")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("got %s, want HTTP/2", resp.Proto)
	}
	tr.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		h1n, fbn := open["h1"], open["fallback"]
		mu.Unlock()
		if h1n == 0 && fbn == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("open connections by hook: h1 %d, fallback %d; want 0 and 0", h1n, fbn)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWriteDeadlineEndsWithRequest: a write deadline a handler set
// through http.ResponseController does not cut the connection's next
// answer short (net/http clears it after each request; h1 clears it only
// when a handler set one).
func TestWriteDeadlineEndsWithRequest(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/short", func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
			t.Error(err)
		}
		io.WriteString(w, "short")
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(150 * time.Millisecond)
		io.WriteString(w, "slow")
	})
	p := newPair(t, mux)
	raw := []byte("GET /short HTTP/1.1\r\nHost: a\r\n\r\nGET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	std := normalise(exchange(t, p.std, raw))
	fast := normalise(exchange(t, p.fast, raw))
	if std != fast || !strings.HasSuffix(fast, "slow") {
		t.Errorf("net/http:\n%s\nh1:\n%s", std, fast)
	}
}
