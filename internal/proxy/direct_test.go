package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawUpstream records the head of every request it receives and answers
// each with reply(head), raw bytes. Requests have no body on the direct
// path, so a head is all there is to read.
type rawUpstream struct {
	ln    net.Listener
	conns atomic.Int32 // connections accepted
	mu    sync.Mutex
	heads []string
	reply func(head string) string
}

func newRawUpstream(t testing.TB) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.conns.Add(1)
			go u.serve(c)
		}
	}()
	return u
}

func (u *rawUpstream) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		var head strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			head.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		u.mu.Lock()
		u.heads = append(u.heads, head.String())
		reply := u.reply
		u.mu.Unlock()
		resp := reply(head.String())
		if _, err := io.WriteString(c, resp); err != nil || strings.Contains(resp, "Connection: close\r\n") {
			return
		}
	}
}

func (u *rawUpstream) setReply(f func(string) string) {
	u.mu.Lock()
	u.reply = f
	u.mu.Unlock()
}

// take returns the heads received since the last call.
func (u *rawUpstream) take() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	h := u.heads
	u.heads = nil
	return h
}

var (
	requestIDValue = regexp.MustCompile(`(?i)(X-Request-Id: |"request_id":")[0-9a-z_.:-]+`)
	dateValue      = regexp.MustCompile(`(?m)^Date: .*$`)
)

// normalize makes two HTTP/1.1 messages comparable: header and trailer
// blocks sorted (Go writes map order), request IDs and dates blanked.
var contentLengthValue = regexp.MustCompile(`Content-Length: \d+`)

func normalize(raw string) string {
	if strings.Contains(raw, `"request_id":"`) {
		// The gateway's JSON errors carry the request ID, whose length
		// grows with the counter (base 36): the two sides' lengths differ
		// by one when it gains a digit between them. The bodies are
		// compared with the ID replaced, which covers the length.
		raw = contentLengthValue.ReplaceAllString(raw, "Content-Length: L")
	}
	raw = requestIDValue.ReplaceAllString(raw, "${1}ID")
	raw = dateValue.ReplaceAllString(raw, "Date: D")
	lines := strings.Split(raw, "\r\n")
	var out []string
	for i := 0; i < len(lines); i++ {
		out = append(out, lines[i])
		first := lines[i]
		if !strings.HasPrefix(first, "HTTP/1.1 ") && !strings.HasSuffix(first, " HTTP/1.1") && first != "0" {
			continue
		}
		j := i + 1
		for j < len(lines) && lines[j] != "" {
			j++
		}
		block := slices.Clone(lines[i+1 : j])
		slices.Sort(block)
		out = append(out, block...)
		i = j - 1
	}
	return strings.Join(out, "\r\n")
}

// directCase is one request and one upstream answer, sent through both
// paths.
type directCase struct {
	name    string
	request string // raw request head, without Host and the final CRLF
	reply   string // raw upstream answer
	direct  bool   // the direct path takes it (else both use ReverseProxy)
	status  int    // when set, the status the client must get
}

var directCases = []directCase{
	{name: "plain GET", direct: true,
		request: "GET /api/items?id=7&q=a%20b HTTP/1.1\r\nAccept: application/json\r\nUser-Agent: curl/8.5.0\r\n",
		reply:   "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"},
	{name: "hop-by-hop and Connection-listed headers", direct: true,
		request: "GET / HTTP/1.1\r\nConnection: keep-alive, X-Hop, te\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic eDp5\r\nTe: trailers, deflate\r\nX-Stay: 2\r\n",
		reply:   "HTTP/1.1 200 OK\r\nConnection: X-Up-Hop\r\nX-Up-Hop: 1\r\nKeep-Alive: timeout=9\r\nProxy-Authenticate: Basic\r\nX-Up-Stay: 2\r\nContent-Length: 2\r\n\r\nok"},
	{name: "Te without trailers", direct: true,
		request: "GET / HTTP/1.1\r\nTe: gzip\r\n",
		reply:   "HTTP/1.1 204 No Content\r\n\r\n"},
	{name: "spoofed forwarding, identity and request ID headers", direct: true,
		request: "GET /x HTTP/1.1\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil\r\nX-Forwarded-Proto: http\r\nForwarded: for=6.6.6.6\r\nX-Request-Id: forged-1\r\nX-Client-Verify: SUCCESS\r\nX-Client-DN: CN=admin\r\nX_Forwarded_For: 6.6.6.6\r\nX-Real_IP: 6.6.6.6\r\n",
		reply:   "HTTP/1.1 200 OK\r\nStrict-Transport-Security: max-age=1\r\nX-Frame-Options: ALLOW\r\nX-Request-Id: upstream-1\r\nReferrer-Policy: unsafe-url\r\nX-Content-Type-Options: none\r\nContent-Length: 0\r\n\r\n"},
	{name: "no User-Agent", direct: true,
		request: "GET / HTTP/1.1\r\nAccept: */*\r\n",
		reply:   "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
	{name: "empty and repeated User-Agent", direct: true,
		request: "GET / HTTP/1.1\r\nUser-Agent: \r\nUser-Agent: second\r\n",
		reply:   "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
	{name: "repeated headers and odd spacing", direct: true,
		request: "GET / HTTP/1.1\r\nX-Multi:   a  \r\nX-Multi: b\r\nX-Nbsp: \u00a0v\u00a0\r\nAccept-Language: en, de;q=0.5\r\n",
		reply:   "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n"},
	{name: "escaped path, strip prefix and base path", direct: true,
		request: "GET /strip/a%2Fb/%61?x=%2F HTTP/1.1\r\n",
		reply:   "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
	{name: "bare prefix of a stripped route", direct: true,
		request: "GET /strip HTTP/1.1\r\n",
		reply:   "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
	{name: "empty query kept", direct: true,
		request: "GET /a? HTTP/1.1\r\n",
		reply:   "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
	{name: "absolute-form target", direct: true,
		request: "GET http://example.com/abs?q=1 HTTP/1.1\r\n",
		reply:   "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
	{name: "HEAD", direct: true,
		request: "HEAD /h HTTP/1.1\r\n",
		reply:   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1234\r\n\r\n"},
	{name: "DELETE", direct: true,
		request: "DELETE /d/1 HTTP/1.1\r\nIdempotency-Key: k1\r\n",
		reply:   "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"},
	{name: "OPTIONS", direct: true,
		request: "OPTIONS /o HTTP/1.1\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: PUT\r\n",
		reply:   "HTTP/1.1 204 No Content\r\nAccess-Control-Allow-Methods: GET, PUT\r\n\r\n"},
	{name: "304", direct: true,
		request: "GET /c HTTP/1.1\r\nIf-None-Match: \"v1\"\r\n",
		reply:   "HTTP/1.1 304 Not Modified\r\nEtag: \"v1\"\r\n\r\n"},
	{name: "chunked with announced trailers", direct: true,
		request: "GET /t HTTP/1.1\r\nTe: trailers\r\n",
		reply:   "HTTP/1.1 200 OK\r\nTrailer: X-Checksum\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n"},
	{name: "chunked with unannounced trailers", direct: true,
		request: "GET /t HTTP/1.1\r\n",
		reply:   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Late: 1\r\n\r\n"},
	{name: "chunked stream", direct: true,
		request: "GET /s HTTP/1.1\r\n",
		reply:   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n"},
	{name: "server-sent events with a length", direct: true,
		request: "GET /events HTTP/1.1\r\nAccept: text/event-stream\r\n",
		reply:   "HTTP/1.1 200 OK\r\nContent-Type: Text/Event-Stream; charset=utf-8\r\nContent-Length: 12\r\n\r\ndata: hi\r\n\r\n"},
	{name: "body until close", direct: true,
		request: "GET /eof HTTP/1.1\r\n",
		reply:   "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it"},
	{name: "early hints", direct: true,
		request: "GET /hints HTTP/1.1\r\n",
		reply:   "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nStrict-Transport-Security: max-age=1\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
	{name: "unasked protocol switch", direct: true,
		request: "GET /ws HTTP/1.1\r\n",
		reply:   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", status: 502},
	{name: "malformed response", direct: true,
		request: "GET /bad HTTP/1.1\r\n",
		reply:   "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", status: 502},
	{name: "query ReverseProxy rewrites", direct: false,
		request: "GET /q?a=1;b=2&c=%zz HTTP/1.1\r\n",
		reply:   "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
	{name: "POST without body", direct: false,
		request: "POST /p HTTP/1.1\r\nContent-Length: 0\r\n",
		reply:   "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"},
	{name: "tab in a value", direct: false,
		request: "GET / HTTP/1.1\r\nX-Tab: a\tb\r\n",
		reply:   "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
	{name: "upgrade request", direct: false,
		request: "GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n",
		reply:   "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"},
}

// directPair is the same site twice: one takes the direct path where it
// can, the other always uses httputil.ReverseProxy.
type directPair struct {
	up                *rawUpstream
	direct, reference *httptest.Server
	pool              *x509.CertPool
}

func newDirectPair(t testing.TB, h2 bool) *directPair {
	t.Helper()
	up := newRawUpstream(t)
	base := "http://" + up.ln.Addr().String()
	// Two gateways, each with Options of its own: routes built from one
	// Options share upstream connections, and the pair must not.
	opts := func() *Options {
		o := testOptions()
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		return o
	}
	routes := []RouteConfig{
		{Path: "/", Upstreams: []string{base}},
		{Path: "/strip/", Upstreams: []string{base + "/base%2Fx/"}, StripPrefix: true},
	}
	p := &directPair{up: up}
	start := func(s *Site) *httptest.Server {
		srv := httptest.NewUnstartedServer(s)
		srv.EnableHTTP2 = h2
		srv.Config.ErrorLog = nil
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv
	}
	d := newTestSite(t, opts(), routes...)
	ref := newTestSite(t, opts(), routes...)
	for _, r := range ref.routes {
		r.direct = false
	}
	for _, r := range d.routes {
		if !r.direct {
			t.Fatalf("route %s: direct path off", r.path)
		}
	}
	p.direct, p.reference = start(d), start(ref)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.direct.Certificate())
	p.pool.AddCert(p.reference.Certificate())
	return p
}

// exchange sends a raw HTTP/1.1 request over TLS and returns every byte
// of the answer.
func (p *directPair) exchange(t *testing.T, srv *httptest.Server, request string) string {
	t.Helper()
	c, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{RootCAs: p.pool, ServerName: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, request+"Host: api.example.com\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil && len(b) == 0 {
		t.Fatal(err)
	}
	return string(b)
}

// TestDirectMatchesReverseProxy sends each request through the direct path
// and through httputil.ReverseProxy and compares, byte for byte (header
// order, request IDs and dates aside), what the upstream received and what
// the client received.
func TestDirectMatchesReverseProxy(t *testing.T) {
	t.Parallel()
	p := newDirectPair(t, false)
	for _, tc := range directCases {
		t.Run(tc.name, func(t *testing.T) {
			// The case's claim about the path is checked on the parsed
			// request: otherwise this would compare ReverseProxy with itself.
			in, err := http.ReadRequest(bufio.NewReader(strings.NewReader(tc.request + "Host: api.example.com\r\n\r\n")))
			if err != nil {
				t.Fatal(err)
			}
			in.TLS, in.RemoteAddr = &tls.ConnectionState{}, "127.0.0.1:1"
			site := p.direct.Config.Handler.(*Site)
			_, headOK := site.appendHead(nil, in, &info{id: "x"})
			if got := directEligible(in) && headOK; got != tc.direct {
				t.Fatalf("direct path taken = %v, want %v", got, tc.direct)
			}

			p.up.setReply(func(string) string { return tc.reply })
			p.up.take()
			gotD := p.exchange(t, p.direct, tc.request)
			upD := p.up.take()
			gotR := p.exchange(t, p.reference, tc.request)
			upR := p.up.take()
			if len(upD) != len(upR) {
				t.Fatalf("upstream received %d requests on the direct path, %d through ReverseProxy:\n%q\n%q", len(upD), len(upR), upD, upR)
			}
			for i := range upD {
				if a, b := normalize(upD[i]), normalize(upR[i]); a != b {
					t.Errorf("upstream request differs\ndirect:       %q\nReverseProxy: %q", a, b)
				}
			}
			if a, b := normalize(gotD), normalize(gotR); a != b {
				t.Errorf("client response differs\ndirect:       %q\nReverseProxy: %q", a, b)
			}
			if want := fmt.Sprintf("HTTP/1.1 %d ", tc.status); tc.status != 0 && !strings.HasPrefix(gotD, want) {
				t.Errorf("client got %q, want status %d", gotD, tc.status)
			}
			if t.Failed() || testing.Verbose() {
				t.Logf("upstream got: %q\nclient got: %q", upD, gotD)
			}
		})
	}
}

// TestDirectOverHTTP2 compares the two paths for requests that arrive over
// HTTP/2: the upstream request bytes, and the status, headers, body and
// trailers the client sees.
func TestDirectOverHTTP2(t *testing.T) {
	t.Parallel()
	p := newDirectPair(t, true)
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: p.pool, ServerName: "example.com"},
		ForceAttemptHTTP2: true,
	}}
	defer client.CloseIdleConnections()
	for _, tc := range directCases {
		if !tc.direct {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			in, err := http.ReadRequest(bufio.NewReader(strings.NewReader(tc.request + "Host: api.example.com\r\n\r\n")))
			if err != nil {
				t.Fatal(err)
			}
			p.up.setReply(func(string) string { return tc.reply })
			type result struct {
				up              []string
				status          int
				header, trailer http.Header
				body            string
			}
			send := func(srv *httptest.Server) result {
				p.up.take()
				req, _ := http.NewRequestWithContext(t.Context(), in.Method, srv.URL+in.URL.RequestURI(), nil)
				req.Host = "api.example.com"
				for k, vv := range in.Header {
					switch k {
					case "Connection", "Keep-Alive", "Proxy-Connection", "Upgrade", "Transfer-Encoding":
						continue // not allowed in HTTP/2
					case "Te":
						if vv[0] != "trailers" {
							continue
						}
					}
					req.Header[k] = vv
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.ProtoMajor != 2 {
					t.Fatalf("answered over %s, want HTTP/2", resp.Proto)
				}
				b, _ := io.ReadAll(resp.Body)
				h := resp.Header.Clone()
				h.Del("Date")
				h.Del("X-Request-Id")
				return result{up: p.up.take(), status: resp.StatusCode, header: h, trailer: resp.Trailer, body: requestIDValue.ReplaceAllString(string(b), "${1}ID")}
			}
			d, r := send(p.direct), send(p.reference)
			if len(d.up) != len(r.up) {
				t.Fatalf("upstream requests: %q vs %q", d.up, r.up)
			}
			for i := range d.up {
				if a, b := normalize(d.up[i]), normalize(r.up[i]); a != b {
					t.Errorf("upstream request differs\ndirect:       %q\nReverseProxy: %q", a, b)
				}
			}
			if d.status != r.status || d.body != r.body || !headersEqual(d.header, r.header) || !headersEqual(d.trailer, r.trailer) {
				t.Errorf("client response differs\ndirect:       %d %v %q trailer %v\nReverseProxy: %d %v %q trailer %v",
					d.status, d.header, d.body, d.trailer, r.status, r.header, r.body, r.trailer)
			}
		})
	}
}

func headersEqual(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// FuzzDirect varies the request target, one request header and one
// response header, and holds the direct path to ReverseProxy's bytes.
func FuzzDirect(f *testing.F) {
	f.Add("GET", "/a?b=c", "X-A", "1", "X-B", "2")
	f.Add("GET", "/strip/%2e%2e/x", "Connection", "X-A, close", "Connection", "X-B")
	f.Add("HEAD", "/", "Te", "trailers;q=1", "Trailer", "X")
	f.Add("OPTIONS", "/x y", "User-Agent", "  ua  ", "Content-Type", "text/event-stream")
	f.Add("DELETE", "/%zz", "X-Forwarded-For", "1.2.3.4", "X-Request-Id", "up")
	f.Add("GET", "/?a=%", "X_Underscore", "v", "Strict-Transport-Security", "max-age=0")
	p := newDirectPair(f, false)
	p.up.setReply(func(string) string { return "" })
	f.Fuzz(func(t *testing.T, method, target, reqName, reqValue, respName, respValue string) {
		request := method + " " + target + " HTTP/1.1\r\n" + reqName + ": " + reqValue + "\r\n"
		reply := "HTTP/1.1 200 OK\r\n" + respName + ": " + respValue + "\r\nContent-Length: 2\r\n\r\nok"
		if method == "HEAD" {
			reply = strings.TrimSuffix(reply, "ok") // else the pooled connection is out of step
		}
		// Only requests net/http accepts, and answers it can parse, say
		// anything about the proxy.
		if _, err := http.ReadRequest(bufio.NewReader(strings.NewReader(request + "Host: h\r\n\r\n"))); err != nil {
			return
		}
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(reply)), &http.Request{Method: method})
		if err != nil {
			return
		}
		if method != "HEAD" && resp.ContentLength != 2 {
			// The header value ended the head early (a bare LF, say):
			// the answer would be read until a close the raw upstream
			// never sends, and the exchange would hang, not differ.
			return
		}
		if strings.EqualFold(respName, "Connection") || strings.EqualFold(respName, "Transfer-Encoding") || strings.EqualFold(respName, "Content-Length") {
			return // framing the raw upstream does not honour
		}
		p.up.setReply(func(string) string { return reply })
		p.up.take()
		gotD := p.exchange(t, p.direct, request)
		upD := p.up.take()
		gotR := p.exchange(t, p.reference, request)
		upR := p.up.take()
		if !slices.Equal(normalizeAll(upD), normalizeAll(upR)) {
			t.Fatalf("upstream request differs\ndirect:       %q\nReverseProxy: %q", upD, upR)
		}
		if a, b := normalize(gotD), normalize(gotR); a != b {
			t.Fatalf("client response differs\ndirect:       %q\nReverseProxy: %q", a, b)
		}
	})
}

func normalizeAll(msgs []string) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = normalize(m)
	}
	return out
}

// TestDirectReusesUpstreamConnections: a client's "Connection: close" is
// about its own connection; the upstream connection goes back to the pool,
// as on the ReverseProxy path.
func TestDirectReusesUpstreamConnections(t *testing.T) {
	t.Parallel()
	p := newDirectPair(t, false)
	p.up.setReply(func(string) string { return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" })
	for _, srv := range []*httptest.Server{p.direct, p.reference} {
		before := p.up.conns.Load()
		for range 5 {
			if got := p.exchange(t, srv, "GET /k HTTP/1.1\r\n"); !strings.HasPrefix(got, "HTTP/1.1 200 ") {
				t.Fatalf("got %q", got)
			}
		}
		if n := p.up.conns.Load() - before; n != 1 {
			t.Errorf("%d upstream connections for 5 requests, want 1", n)
		}
	}
}

func TestDirectIdempotent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method string
		header http.Header
		want   bool
	}{
		{"GET", nil, true},
		{"HEAD", http.Header{"Connection": {"close"}}, true},
		{"DELETE", nil, false},
		{"DELETE", http.Header{"Idempotency-Key": {"k"}}, true},
		{"DELETE", http.Header{"X-Idempotency-Key": {"k"}, "Connection": {"keep-alive"}}, true},
		{"DELETE", http.Header{"Idempotency-Key": {"k"}, "Connection": {"idempotency-key"}}, false},
		{"DELETE", http.Header{"X-Idempotency-Key": {"k"}, "Connection": {"X-Idempotency-Key"}}, false},
	} {
		r := &http.Request{Method: tc.method, Header: tc.header}
		if r.Header == nil {
			r.Header = http.Header{}
		}
		if got := directIdempotent(r); got != tc.want {
			t.Errorf("%s %v: idempotent = %v, want %v", tc.method, tc.header, got, tc.want)
		}
	}
}
