package tlsgate_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tlsgate/tlsgate"
)

// The tests in this file pin what an attacker-minded review of the Go API
// found; each failed before its fix.

// TestHandlerWriterInterfaces: the handler's ResponseWriter is an
// http.Flusher over HTTP/1.1 and HTTP/2 (server-sent events) and an
// http.Hijacker over HTTP/1.1 (WebSockets), though the gateway wraps it.
func TestHandlerWriterInterfaces(t *testing.T) {
	srv := startLocal(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, flusher := w.(http.Flusher)
		_, hijacker := w.(http.Hijacker)
		fmt.Fprintf(w, "%s flusher=%v hijacker=%v", r.Proto, flusher, hijacker)
		if flusher {
			w.(http.Flusher).Flush()
		}
	}), false)
	root, _, _ := srv.LocalCA()
	for _, h2 := range []bool{false, true} {
		c := clientTrusting(root, "localhost", nil)
		if !h2 {
			c.Transport.(*http.Transport).TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		_, body := get(t, c, localURL(srv, "/"), nil)
		want := "HTTP/1.1 flusher=true hijacker=true"
		if h2 {
			want = "HTTP/2.0 flusher=true hijacker=false"
		}
		if body != want {
			t.Errorf("%q, want %q", body, want)
		}
	}
}

// TestHandlerHijack: a WebSocket-style takeover works over HTTP/1.1.
func TestHandlerHijack(t *testing.T) {
	srv := startLocal(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer c.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhello")
		rw.Flush()
	}), false)
	root, _, _ := srv.LocalCA()
	tc := clientTrusting(root, "localhost", nil).Transport.(*http.Transport).TLSClientConfig
	tc.NextProtos = []string{"http/1.1"}
	conn, err := tls.Dial("tcp", srv.Addrs().HTTPS.String(), tc)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(br) // the connection is the handler's now
	if resp.StatusCode != 101 || string(b) != "hello" {
		t.Errorf("%d %q", resp.StatusCode, b)
	}
}

// TestHostWithoutSNI: a client that sends no SNI reaches the site by
// address, but cannot name another host in Host for the handler to
// believe: 421, as with SNI.
func TestHostWithoutSNI(t *testing.T) {
	srv := startLocal(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Host) }), false)
	root, _, _ := srv.LocalCA()
	c := clientTrusting(root, "localhost", nil)
	tc := c.Transport.(*http.Transport).TLSClientConfig
	tc.ServerName, tc.InsecureSkipVerify = "", true // no SNI (an IP URL); the certificate names localhost
	for host, want := range map[string]int{"evil.example": 421, "127.0.0.1": 200, "": 200, "localhost": 200} {
		req, _ := http.NewRequest("GET", "https://"+srv.Addrs().HTTPS.String()+"/", nil)
		if host != "" {
			req.Host = host
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("no SNI, Host %q: %d, want %d", host, resp.StatusCode, want)
		}
	}
}

// TestHandlerSeesOneTarget: the router, a file server and RequestURI see
// the same normalised path; an encoded slash, which ServeMux and
// FileServer read differently, is refused.
func TestHandlerSeesOneTarget(t *testing.T) {
	srv := startLocal(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s|%s|%s|%s", r.URL.Path, r.URL.EscapedPath(), r.RequestURI, r.URL.Host)
	}), false)
	root, _, _ := srv.LocalCA()
	c := clientTrusting(root, "localhost", nil)
	for target, want := range map[string]string{
		"/public/../internal/x": "/internal/x|/internal/x|/internal/x|",
		"/%69nternal/x":         "/internal/x|/internal/x|/internal/x|",
		"/internal%2Fsecret":    "400",
		"/internal%2fsecret":    "400",
	} {
		req, _ := http.NewRequest("GET", localURL(srv, "/"), nil)
		req.URL.Opaque = target
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := string(b)
		if resp.StatusCode != 200 {
			got = fmt.Sprint(resp.StatusCode)
		}
		if got != want {
			t.Errorf("GET %s: %q, want %q", target, got, want)
		}
	}
}

// TestIdentityValuesAreTheRequests: a handler that edits its identity
// headers changes no other request's.
func TestIdentityValuesAreTheRequests(t *testing.T) {
	srv := startLocal(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("X-Client-Verify"))
		if v := r.Header["X-Client-Verify"]; len(v) > 0 {
			v[0] = "SUCCESS" // a careless handler
		}
	}), true)
	root, _, _ := srv.LocalCA()
	for i := range 3 {
		c := clientTrusting(root, "localhost", nil) // a new connection each time
		if _, body := get(t, c, localURL(srv, "/"), nil); body != "NONE" {
			t.Errorf("request %d: X-Client-Verify %q, want NONE", i, body)
		}
	}
}

// TestTrailersFiltered: trailers the client sends cannot carry an identity
// or a forwarded address to the handler.
func TestTrailersFiltered(t *testing.T) {
	srv := startLocal(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "verify=%q xff=%q id=%q", r.Trailer.Get("X-Client-Verify"), r.Trailer.Get("X-Forwarded-For"), r.Trailer.Get("X-Request-Id"))
	}), true)
	root, _, _ := srv.LocalCA()
	tc := clientTrusting(root, "localhost", nil).Transport.(*http.Transport).TLSClientConfig
	tc.NextProtos = []string{"http/1.1"}
	conn, err := tls.Dial("tcp", srv.Addrs().HTTPS.String(), tc)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nTrailer: X-Client-Verify, X-Forwarded-For, X-Request-Id\r\n\r\n"+
		"2\r\nhi\r\n0\r\nX-Client-Verify: SUCCESS\r\nX-Forwarded-For: 10.0.0.1\r\nX-Request-Id: forged\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != `verify="" xff="" id=""` {
		t.Errorf("the handler saw trailers %s", b)
	}
}

// TestListenFailureFreesTheRegistry: a Listen that fails (the port is
// taken) leaves the metrics registry free for the next try.
func TestListenFailureFreesTheRegistry(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	a := &tlsgate.Server{Hosts: []string{"localhost"}, Handler: http.NotFoundHandler(), Addr: busy.Addr().String(), HTTPAddr: "off", DataDir: dir, Metrics: reg}
	if err := a.Listen(); err == nil {
		t.Fatal("Listen on a busy port succeeded")
	}
	b := &tlsgate.Server{Hosts: []string{"localhost"}, Handler: http.NotFoundHandler(), Addr: "127.0.0.1:0", HTTPAddr: "off", DataDir: dir, Metrics: reg}
	if err := b.Listen(); err != nil {
		t.Fatalf("after a failed Listen: %v", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	stop()
	b.Serve(ctx)
}

// TestErrorsNameFields: an error about what a field set names the field.
func TestErrorsNameFields(t *testing.T) {
	for name, tc := range map[string]struct {
		srv  *tlsgate.Server
		want string
	}{
		"public and IP": {&tlsgate.Server{Hosts: []string{"api.example.com", "127.0.0.1"}, Handler: http.NotFoundHandler()},
			"Server.Hosts mixes public names with 127.0.0.1"},
		"remote admin": {&tlsgate.Server{Hosts: []string{"localhost"}, Handler: http.NotFoundHandler(), AdminAddr: "0.0.0.0:9180"},
			"Server.AdminAddr"},
		"profile": {&tlsgate.Server{Hosts: []string{"localhost"}, Handler: http.NotFoundHandler(), Profile: "tls1.0"},
			"Server.Profile"},
	} {
		err := tc.srv.Listen()
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "sites[0]") {
			t.Errorf("%s: %v, want %q and no config key", name, err, tc.want)
		}
	}
}
