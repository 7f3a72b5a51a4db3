package proxy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestPathNormalisation (issue 13, finding 1): the route that admits a
// request is the route its upstream resolves it to. /internal/ stands for
// a route with a stricter policy; every spelling of a way into it from
// /public/ must reach the internal upstream with a normal path, or be
// refused, never reach the public one with dot segments in it.
func TestPathNormalisation(t *testing.T) {
	t.Parallel()
	pub, internal := echoBackend(t, "public"), echoBackend(t, "internal")
	s := newTestSite(t, nil,
		RouteConfig{Path: "/public/", Upstreams: []string{pub.URL}},
		RouteConfig{Path: "/internal/", Upstreams: []string{internal.URL}})
	tests := []struct {
		target  string
		backend string // "" for a refusal
		uri     string // what the upstream gets
		status  int
	}{
		{target: "/public/a", backend: "public", uri: "/public/a"},
		{target: "/public/../internal/x", backend: "internal", uri: "/internal/x"},
		{target: "/public/%2e%2e/internal/x", backend: "internal", uri: "/internal/x"},
		{target: "/public/%2E%2E/internal/x", backend: "internal", uri: "/internal/x"},
		{target: "/public/.%2e/internal/x", backend: "internal", uri: "/internal/x"},
		{target: "/public/./a//b", backend: "public", uri: "/public/a/b"},
		{target: "//public//a", backend: "public", uri: "/public/a"},
		{target: "/public/a/./", backend: "public", uri: "/public/a/"},
		{target: "/public/a/..", backend: "public", uri: "/public/"},
		{target: "/../../public/a", backend: "public", uri: "/public/a"},
		{target: "/%70ublic/a", backend: "public", uri: "/public/a"},
		{target: "/public/a%20b?q=1", backend: "public", uri: "/public/a%20b?q=1"},
		{target: "/public/a%3Fb", backend: "public", uri: "/public/a%3Fb"},
		{target: "/public/..;/internal/x", status: 400},
		{target: "/public;x=1/a", status: 400},
		{target: "/internal%3B/x", status: 400},
		{target: "/public/x/..%2finternal/x", status: 400},
		{target: "/public/a%2Fb", backend: "public", uri: "/public/a%2Fb"},
		{target: "/internal%2Fx", backend: "internal", uri: "/internal%2Fx"},
		{target: "/public/a%2F%2Fb", status: 400},
		{target: "/public%2F..%2Finternal/x", status: 400},
		{target: "/public/%252e%252e/internal/x", status: 400},
		{target: "/public/%255c", status: 400},
		{target: "/public/..%5Cinternal/x", status: 400},
		{target: "/public/a%00", status: 400},
		{target: "/public/a%0d%0a", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "https://example.com/", nil)
			r.URL = mustParseTarget(t, tt.target)
			r.RequestURI = tt.target
			resp := serve(s, r)
			if tt.backend == "" {
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != tt.status {
					t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tt.status)
				}
				if !strings.Contains(string(body), `"request_id"`) {
					t.Errorf("refusal without the JSON error body: %s", body)
				}
				return
			}
			got := decodeSeen(t, resp)
			if got.Name != tt.backend || got.URI != tt.uri {
				t.Errorf("reached %s with %q, want %s with %q", got.Name, got.URI, tt.backend, tt.uri)
			}
		})
	}
	// Bodies take the ReverseProxy path: the same rules.
	r := httptest.NewRequest("POST", "https://example.com/", strings.NewReader("x"))
	r.URL = mustParseTarget(t, "/public/%2e%2e/internal/x")
	if got := decodeSeen(t, serve(s, r)); got.Name != "internal" || got.URI != "/internal/x" {
		t.Errorf("POST reached %s with %q", got.Name, got.URI)
	}
}

func mustParseTarget(t *testing.T, target string) *url.URL {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: example.com\r\n\r\n")))
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	return r.URL
}

// TestMethodToken (finding 2): a method that is not an RFC 9110 token
// (HTTP/2 lets spaces through in :method) never reaches an upstream, on
// either path; CONNECT and TRACE are not relayed.
func TestMethodToken(t *testing.T) {
	t.Parallel()
	up := echoBackend(t, "up")
	s := newTestSite(t, nil, RouteConfig{Path: "/public/", Upstreams: []string{up.URL}})
	for _, tc := range []struct {
		method string
		body   string
		status int
	}{
		{"GET /internal/x HTTP/1.1\r\nX:", "", 400},
		{"GET /internal/x HTTP/1.1", "", 400},
		{"POST /internal/x HTTP/1.1", "x", 400},
		{"GE\tT", "", 400},
		{"", "", 400},
		{"CONNECT", "", 405},
		{"TRACE", "", 405},
	} {
		r := httptest.NewRequest("GET", "https://example.com/public/a", strings.NewReader(tc.body))
		r.Method = tc.method
		resp := serve(s, r)
		if resp.StatusCode != tc.status {
			t.Errorf("method %q: status %d, want %d", tc.method, resp.StatusCode, tc.status)
		}
	}
	if n := up.hits.Load(); n != 0 {
		t.Errorf("the upstream got %d requests with a refused method", n)
	}
	// A valid extension method still goes through.
	r := httptest.NewRequest("PROPFIND", "https://example.com/public/a", nil)
	if got := decodeSeen(t, serve(s, r)); got.Method != "PROPFIND" {
		t.Errorf("PROPFIND arrived as %q", got.Method)
	}
}

// TestIdentityHeadersOfOtherSites (finding 6): a site strips the identity
// header names every other site configured, not only its own.
func TestIdentityHeadersOfOtherSites(t *testing.T) {
	t.Parallel()
	up := echoBackend(t, "up")
	opts := testOptions()
	opts.IdentityHeaders = []string{"X-Mtls-Verify", "x-mtls-subject"}
	s, err := NewSite(SiteConfig{Name: "b.example", Routes: []RouteConfig{{Path: "/", Upstreams: []string{up.URL}}}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	for _, body := range []string{"", "x"} { // direct and ReverseProxy paths
		r := httptest.NewRequest("POST", "https://b.example/", strings.NewReader(body))
		if body == "" {
			r.Method = "GET"
		}
		r.Header.Set("X-Mtls-Verify", "SUCCESS")
		r.Header.Set("X-Mtls-Subject", "CN=admin")
		r.Header.Set("X-Client-Verify", "SUCCESS")
		got := decodeSeen(t, serve(s, r))
		for _, k := range []string{"X-Mtls-Verify", "X-Mtls-Subject", "X-Client-Verify"} {
			if v := got.Header.Values(k); v != nil {
				t.Errorf("%s (body %q): forged %s: %q reached the upstream", r.Method, body, k, v)
			}
		}
	}
}

// TestUpgradeOnlyWebSocket (finding 11): "Upgrade: h2c" is not relayed,
// so an upstream cannot be talked into an HTTP/2 tunnel that no route
// check sees; WebSocket upgrades still are.
func TestUpgradeOnlyWebSocket(t *testing.T) {
	t.Parallel()
	var upgrades atomic.Int32
	up := handlerBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			upgrades.Add(1)
		}
		if r.Header.Get("Upgrade") == "h2c" {
			// What an h2c-capable upstream would do.
			w.Header().Set("Connection", "Upgrade")
			w.Header().Set("Upgrade", "h2c")
			w.WriteHeader(http.StatusSwitchingProtocols)
			return
		}
		io.WriteString(w, "plain")
	})
	s := newTestSite(t, nil, RouteConfig{Path: "/", Upstreams: []string{up.URL}})
	front := frontend(t, s)
	addr := front.Listener.Addr().String()
	for _, req := range []string{
		"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\nx",
		"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: websocket, h2c\r\n\r\n",
	} {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, req)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		c.Close()
		if resp.StatusCode != 200 || string(body) != "plain" {
			t.Errorf("%q: %d %q, want the plain answer", strings.SplitN(req, "\r\n", 2)[0], resp.StatusCode, body)
		}
	}
	if n := upgrades.Load(); n != 0 {
		t.Errorf("the upstream saw %d Upgrade headers", n)
	}
}

// TestClientTrailers (finding 11): trailers a client sends after its body
// reach the upstream, except names the gateway owns.
func TestClientTrailers(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 1)
	up := handlerBackend(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got <- r.Trailer
	})
	s := newTestSite(t, nil, RouteConfig{Path: "/", Upstreams: []string{up.URL}})
	front := frontend(t, s)
	c, err := tls.Dial("tcp", front.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum, X-Client-Verify, X-Forwarded-For\r\n\r\n"+
		"3\r\nabc\r\n0\r\nX-Checksum: sha256=abc\r\nX-Client-Verify: SUCCESS\r\nX-Forwarded-For: 10.9.9.9\r\nX-Undeclared: 1\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	tr := <-got
	if v := tr.Get("X-Checksum"); v != "sha256=abc" {
		t.Errorf("trailer X-Checksum = %q, want sha256=abc (trailers: %v)", v, tr)
	}
	for _, k := range []string{"X-Client-Verify", "X-Forwarded-For", "X-Undeclared"} {
		if v := tr.Values(k); v != nil {
			t.Errorf("trailer %s: %q reached the upstream", k, v)
		}
	}
}

// TestSendTimeout (finding 7): clients that stop reading a large answer
// are cut off after the send timeout, over HTTP/1.1 and HTTP/2, and the
// upstream connections serving them are released.
func TestSendTimeout(t *testing.T) {
	t.Parallel()
	const size = 16 << 20
	chunk := make([]byte, 32<<10)
	var active atomic.Int32
	upSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		for n := 0; n < size; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	upSrv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			active.Add(1)
		case http.StateClosed, http.StateHijacked:
			active.Add(-1)
		}
	}
	upSrv.Start()
	t.Cleanup(upSrv.Close)
	opts := testOptions()
	opts.Send = time.Second
	s := newTestSite(t, opts, RouteConfig{Path: "/", Upstreams: []string{upSrv.URL}})
	front := httptest.NewUnstartedServer(s)
	front.EnableHTTP2 = true
	front.Listener = SendTimeoutListener(front.Listener, opts.Send)
	front.StartTLS()
	t.Cleanup(front.Close)
	addr := front.Listener.Addr().String()

	const clients = 6
	var conns []net.Conn
	for i := range clients {
		target := "/big"
		if i%2 == 1 {
			target = "/big?m=post" // the ReverseProxy path
		}
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if i%2 == 1 {
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1\r\n\r\nx", target)
		} else {
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: example.com\r\n\r\n", target)
		}
		// Read the head, then stop reading.
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
			t.Fatal(err)
		}
	}
	// An HTTP/2 client whose stream window stays shut: it reads the
	// connection (and answers pings) but never grants the stream credit.
	h2c := h2Stalled(t, addr)
	conns = append(conns, h2c)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for active.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := active.Load(); n > 0 {
		t.Fatalf("%d upstream connections still open 10s after %d clients stopped reading (send timeout 1s)", n, clients+1)
	}
}

// h2Stalled opens an HTTP/2 connection with a small stream window, sends
// one GET /big and never sends WINDOW_UPDATE, while it keeps reading
// frames so that only the stream, not the connection, is stuck.
func h2Stalled(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1024})
	var hb strings.Builder
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "example.com"}, {":path", "/big"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte(hb.String()), EndStream: true, EndHeaders: true})
	go func() {
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			if p, ok := f.(*http2.PingFrame); ok && !p.IsAck() {
				fr.WritePing(true, p.Data)
			}
		}
	}()
	return c
}

// TestStatusBelow100 (found by the differential test): http.ReadResponse
// takes "HTTP/1.1 000", on which net/http's WriteHeader panics. The
// client gets a 502 on both paths, and the gateway goes on.
func TestStatusBelow100(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				io.WriteString(c, "HTTP/1.1 000 Zero\r\nContent-Length: 2\r\n\r\nok")
			}()
		}
	}()
	s := newTestSite(t, nil, RouteConfig{Path: "/", Upstreams: []string{"http://" + ln.Addr().String()}})
	for _, method := range []string{"GET", "POST"} {
		r := httptest.NewRequest(method, "https://example.com/", strings.NewReader("x"))
		if method == "GET" {
			r = httptest.NewRequest(method, "https://example.com/", nil)
		}
		resp := serve(s, r)
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("%s: status %d, want 502", method, resp.StatusCode)
		}
	}
}

// TestUpstreamSendTimeout: an upstream that stops reading a request body
// is cut off after the send timeout (nginx's proxy_send_timeout); the
// client gets an answer and the upstream connection is closed.
func TestUpstreamSendTimeout(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	release := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		// Read the head, then nothing until the client has its answer.
		http.ReadRequest(bufio.NewReader(c))
		<-release
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.Copy(io.Discard, c)
		readErr <- err
	}()
	opts := testOptions()
	opts.Send = time.Second
	opts.UpstreamResponse = 30 * time.Second
	s := newTestSite(t, opts, RouteConfig{Path: "/", Upstreams: []string{"http://" + ln.Addr().String()}})
	front := frontend(t, s)
	c, err := tls.Dial("tcp", front.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const size = 256 << 20 // more than every socket buffer on the way
	go func() {
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: %d\r\n\r\n", size)
		chunk := make([]byte, 64<<10)
		for n := 0; n < size; n += len(chunk) {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	close(release)
	if err != nil {
		t.Fatalf("no answer %v after the upstream stopped reading (send timeout 1s): %v", time.Since(start).Round(time.Millisecond), err)
	}
	if resp.StatusCode != http.StatusBadGateway && resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("status %d, want 502 or 504", resp.StatusCode)
	}
	if err := <-readErr; err != nil && isTimeout(err) {
		t.Errorf("the upstream connection is still open: %v", err)
	}
}

// TestStripPrefixStaysInBase (found in review): on a route without a
// trailing slash, stripping the prefix inside a segment ("/api.." on
// /api) must not hand the upstream a dot segment that climbs out of its
// base path; such paths are refused, on both proxy paths.
func TestStripPrefixStaysInBase(t *testing.T) {
	t.Parallel()
	up := echoBackend(t, "up")
	s := newTestSite(t, nil, RouteConfig{Path: "/api", Upstreams: []string{up.URL + "/tenant-a/"}, StripPrefix: true})
	for _, m := range []string{"GET", "POST"} {
		for _, target := range []string{"/api..", "/api../admin/secret", "/api.%2e/admin", "/api..%2Fadmin", "/api.", "/api./x"} {
			r := httptest.NewRequest(m, "https://example.com/", strings.NewReader("x"))
			r.URL = mustParseTarget(t, target)
			if resp := serve(s, r); resp.StatusCode != http.StatusBadRequest {
				body, _ := io.ReadAll(resp.Body)
				t.Errorf("%s %s: %d %s, want 400", m, target, resp.StatusCode, body)
			}
		}
		for target, want := range map[string]string{"/api": "/tenant-a/", "/api/x": "/tenant-a/x", "/api/a%2Fb": "/tenant-a/a%2Fb", "/apix": "/tenant-a/x"} {
			r := httptest.NewRequest(m, "https://example.com/", strings.NewReader("x"))
			r.URL = mustParseTarget(t, target)
			if got := decodeSeen(t, serve(s, r)); got.URI != want {
				t.Errorf("%s %s: upstream got %q, want %q", m, target, got.URI, want)
			}
		}
	}
	if n := up.hits.Load(); n != 8 {
		t.Errorf("the upstream got %d requests, want the 8 accepted ones", n)
	}
}

// TestSendTimeoutIdleStream (found in review): the send timeout runs only
// while a write is blocked. A streamed answer whose upstream is quiet for
// longer than it, to a client that reads all the time, is not cut, over
// HTTP/2 or HTTP/1.1.
func TestSendTimeoutIdleStream(t *testing.T) {
	t.Parallel()
	up := handlerBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		time.Sleep(700 * time.Millisecond) // a quiet upstream, longer than Send
		io.WriteString(w, "data: two\n\n")
	})
	opts := testOptions()
	opts.Send = 300 * time.Millisecond
	s := newTestSite(t, opts, RouteConfig{Path: "/", Upstreams: []string{up.URL}})
	front := httptest.NewUnstartedServer(s)
	front.EnableHTTP2 = true
	front.Listener = SendTimeoutListener(front.Listener, opts.Send)
	front.StartTLS()
	t.Cleanup(front.Close)
	for _, proto := range []string{"h2", "http/1.1"} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{proto}}, ForceAttemptHTTP2: proto == "h2"}
		if proto != "h2" {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		resp, err := c.Get(front.URL + "/events")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		if err != nil || string(body) != "data: one\n\ndata: two\n\n" || (proto == "h2") != (resp.ProtoMajor == 2) {
			t.Errorf("%s (%s): a client reading all the time lost the stream: body %q, err %v", proto, resp.Proto, body, err)
		}
	}
}

// TestForwardedFamilyDropped (found in review): no client-set header of
// the X-Forwarded-* family, X-Real-IP or a path override (X-Original-URL,
// X-Rewrite-URL) reaches an upstream, on either path.
func TestForwardedFamilyDropped(t *testing.T) {
	t.Parallel()
	up := echoBackend(t, "up")
	s := newTestSite(t, nil, RouteConfig{Path: "/", Upstreams: []string{up.URL}})
	for _, m := range []string{"GET", "POST"} {
		r := httptest.NewRequest(m, "/x", strings.NewReader("x"))
		if m == "GET" {
			r = httptest.NewRequest(m, "/x", nil)
		}
		r.RemoteAddr = "203.0.113.7:50000"
		for _, k := range []string{"X-Forwarded-Prefix", "X-Forwarded-Port", "X-Forwarded-Ssl", "X-Forwarded-Scheme",
			"X-Forwarded-Server", "X-Forwarded-Proto", "X-Real-Ip", "X-Original-Url", "X-Rewrite-Url", "Forwarded"} {
			r.Header.Set(k, "forged")
		}
		got := decodeSeen(t, serve(s, r))
		for k, v := range got.Header {
			if slices.Contains(v, "forged") {
				t.Errorf("%s: the client's %s: %q reached the upstream", m, k, v)
			}
		}
	}
}
