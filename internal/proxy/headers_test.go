package proxy

import (
	"bufio"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestHSTSHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		h    HSTS
		want string
	}{
		{HSTS{}, "max-age=0"},
		{HSTS{MaxAge: 31536000}, "max-age=31536000"},
		{HSTS{MaxAge: 31536000, IncludeSubDomains: true}, "max-age=31536000; includeSubDomains"},
		{HSTS{MaxAge: 63072000, Preload: true}, "max-age=63072000; preload"},
		{HSTS{MaxAge: 63072000, IncludeSubDomains: true, Preload: true}, "max-age=63072000; includeSubDomains; preload"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			if got := tt.h.Header(); got != tt.want {
				t.Errorf("%+v.Header() = %q, want %q", tt.h, got, tt.want)
			}
		})
	}
}

// upstreamWithOwnPolicy sets security headers of its own, which the
// gateway must replace.
func upstreamWithOwnPolicy(t *testing.T) *backend {
	return handlerBackend(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Strict-Transport-Security", "max-age=1")
		h.Set("X-Frame-Options", "SAMEORIGIN")
		h.Set("X-Content-Type-Options", "sniff-away")
		h.Set("Referrer-Policy", "unsafe-url")
		h.Set("X-Request-Id", "from-upstream")
		h.Set("X-Backend", "yes")
		io.WriteString(w, "hello")
	})
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	slow := handlerBackend(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	tests := []struct {
		name   string
		routes []RouteConfig
		path   string
		status int
	}{
		{"proxied", []RouteConfig{{Path: "/", Upstreams: []string{upstreamWithOwnPolicy(t).URL}}}, "/x", 200},
		{"no route", []RouteConfig{{Path: "/api/", Upstreams: []string{upstreamWithOwnPolicy(t).URL}}}, "/other", 404},
		{"upstream down", []RouteConfig{{Path: "/", Upstreams: []string{deadURL(t)}}}, "/x", 502},
		{"upstream slow", []RouteConfig{{Path: "/", Upstreams: []string{slow.URL}}}, "/x", 504},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := testOptions()
			opts.UpstreamResponse = 100 * time.Millisecond
			s := newTestSite(t, opts, tt.routes...)
			resp := get(t, s, "https://example.com"+tt.path)
			defer resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			checkSecurityHeaders(t, resp.Header)
			if tt.status == 200 {
				if resp.Header.Get("X-Backend") != "yes" {
					t.Error("the upstream's other headers were lost")
				}
				if resp.Header.Get("X-Request-Id") == "from-upstream" {
					t.Error("the upstream's X-Request-Id replaced the gateway's")
				}
			}
		})
	}
}

// TestSecurityHeadersAfterEarlyHints: an upstream that sends 103 Early
// Hints before its response must not strip the gateway's headers from the
// final response (httputil.ReverseProxy clears the header map after a 1xx).
func TestSecurityHeadersAfterEarlyHints(t *testing.T) {
	t.Parallel()
	hints := handlerBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload; as=style")
		w.Header().Set("Strict-Transport-Security", "max-age=1")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("X-Backend", "yes")
		io.WriteString(w, "hello")
	})
	hintsThenDie := handlerBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints) // sent at once
		panic(http.ErrAbortHandler)          // and no final response
	})
	for _, tc := range []struct {
		name   string
		up     *backend
		status int
	}{{"response", hints, 200}, {"upstream fails after 103", hintsThenDie, 502}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newTestSite(t, nil, RouteConfig{Path: "/", Upstreams: []string{tc.up.URL}})
			front := httptest.NewTLSServer(s)
			defer front.Close()
			var early []http.Header
			var mu sync.Mutex
			ctx := withGot1xx(t.Context(), func(code int, h http.Header) {
				mu.Lock()
				early = append(early, h)
				mu.Unlock()
			})
			req, _ := http.NewRequestWithContext(ctx, "GET", front.URL+"/", nil)
			resp, err := front.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			checkSecurityHeaders(t, resp.Header)
			mu.Lock()
			defer mu.Unlock()
			if len(early) != 1 || early[0].Get("Link") == "" {
				t.Errorf("early hints %v, want one 103 with the Link header", early)
			}
		})
	}
}

func TestForwardedHeaders(t *testing.T) {
	t.Parallel()
	up := echoBackend(t, "up")
	tests := []struct {
		name    string
		trusted []string
		remote  string
		plain   bool // arrived without TLS
		in      http.Header
		wantXFF string
	}{
		{
			name: "untrusted peer: client chain dropped", remote: "203.0.113.7:5555",
			in:      http.Header{"X-Forwarded-For": {"6.6.6.6"}, "Forwarded": {"for=6.6.6.6"}, "X-Forwarded-Host": {"evil.example"}, "X-Forwarded-Proto": {"http"}, "X-Real-Ip": {"6.6.6.6"}},
			wantXFF: "203.0.113.7",
		},
		{
			name: "untrusted neighbour of a trusted range", trusted: []string{"203.0.113.0/24"}, remote: "203.0.114.7:5555",
			in: http.Header{"X-Forwarded-For": {"6.6.6.6"}}, wantXFF: "203.0.114.7",
		},
		{
			name: "trusted peer: chain extended", trusted: []string{"203.0.113.0/24"}, remote: "203.0.113.7:5555",
			in: http.Header{"X-Forwarded-For": {"198.51.100.1"}}, wantXFF: "198.51.100.1, 203.0.113.7",
		},
		{
			name: "trusted peer: several header lines", trusted: []string{"203.0.113.7/32"}, remote: "203.0.113.7:5555",
			in:      http.Header{"X-Forwarded-For": {"198.51.100.1", "198.51.100.2, 198.51.100.3"}},
			wantXFF: "198.51.100.1, 198.51.100.2, 198.51.100.3, 203.0.113.7",
		},
		{
			name: "trusted peer without a chain", trusted: []string{"203.0.113.0/24"}, remote: "203.0.113.7:5555",
			wantXFF: "203.0.113.7",
		},
		{
			name: "trusted IPv6 peer", trusted: []string{"2001:db8::/32"}, remote: "[2001:db8::7]:443",
			in: http.Header{"X-Forwarded-For": {"198.51.100.1"}}, wantXFF: "198.51.100.1, 2001:db8::7",
		},
		{
			name: "IPv4-mapped peer matches an IPv4 range", trusted: []string{"203.0.113.0/24"}, remote: "[::ffff:203.0.113.7]:443",
			in: http.Header{"X-Forwarded-For": {"198.51.100.1"}}, wantXFF: "198.51.100.1, ::ffff:203.0.113.7",
		},
		{
			name: "zoned peer is not trusted", trusted: []string{"fe80::/10"}, remote: "[fe80::1%eth0]:443",
			in: http.Header{"X-Forwarded-For": {"198.51.100.1"}}, wantXFF: "fe80::1%eth0",
		},
		{
			name: "plain http", remote: "203.0.113.7:5555", plain: true, wantXFF: "203.0.113.7",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := testOptions()
			for _, p := range tt.trusted {
				opts.TrustedProxies = append(opts.TrustedProxies, netip.MustParsePrefix(p))
			}
			s := newTestSite(t, opts, RouteConfig{Path: "/", Upstreams: []string{up.URL}})
			target := "https://Example.com/x"
			if tt.plain {
				target = "http://Example.com/x"
			}
			r := httptest.NewRequest("GET", target, nil)
			r.RemoteAddr = tt.remote
			for k, v := range tt.in {
				r.Header[k] = v
			}
			got := decodeSeen(t, serve(s, r))
			if xff := got.Header.Values("X-Forwarded-For"); len(xff) != 1 || xff[0] != tt.wantXFF {
				t.Errorf("X-Forwarded-For = %q, want %q", xff, tt.wantXFF)
			}
			if xfh := got.Header.Values("X-Forwarded-Host"); len(xfh) != 1 || xfh[0] != "Example.com" {
				t.Errorf("X-Forwarded-Host = %q, want the client's Host", xfh)
			}
			wantProto := "https"
			if tt.plain {
				wantProto = "http"
			}
			if xfp := got.Header.Values("X-Forwarded-Proto"); len(xfp) != 1 || xfp[0] != wantProto {
				t.Errorf("X-Forwarded-Proto = %q, want %s", xfp, wantProto)
			}
			if f := got.Header.Values("Forwarded"); f != nil {
				t.Errorf("Forwarded = %q passed through", f)
			}
			if got.Host != strings.TrimPrefix(up.URL, "http://") {
				t.Errorf("upstream saw Host %q, want its own", got.Host)
			}
		})
	}
}

func TestHopByHopHeaders(t *testing.T) {
	t.Parallel()
	up := echoBackend(t, "up")
	s := newTestSite(t, nil, RouteConfig{Path: "/", Upstreams: []string{up.URL}})
	r := httptest.NewRequest("GET", "https://example.com/", nil)
	r.Header = http.Header{
		"Connection":          {"X-Foo, close"},
		"X-Foo":               {"bar"},
		"Keep-Alive":          {"timeout=5"},
		"Te":                  {"gzip"},
		"Upgrade":             {"websocket"},
		"Proxy-Connection":    {"keep-alive"},
		"Proxy-Authorization": {"Basic Zm9vOmJhcg=="},
		"Transfer-Encoding":   {"chunked"},
		"X-Keep":              {"yes"},
		"Authorization":       {"Bearer t"},
	}
	got := decodeSeen(t, serve(s, r))
	for _, h := range []string{"X-Foo", "Keep-Alive", "Te", "Upgrade", "Proxy-Connection", "Proxy-Authorization"} {
		if v := got.Header.Values(h); v != nil {
			t.Errorf("hop-by-hop header %s: %q forwarded", h, v)
		}
	}
	if c := got.Header.Get("Connection"); strings.Contains(strings.ToLower(c), "x-foo") {
		t.Errorf("Connection: %q forwarded", c)
	}
	if got.Header.Get("X-Keep") != "yes" || got.Header.Get("Authorization") != "Bearer t" {
		t.Error("end-to-end headers were dropped")
	}
}

// TestHopByHopResponseHeaders: the same hygiene for the upstream's answer.
func TestHopByHopResponseHeaders(t *testing.T) {
	t.Parallel()
	up := handlerBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Secret")
		w.Header().Set("X-Secret", "internal")
		w.Header().Set("Keep-Alive", "timeout=99")
		io.WriteString(w, "ok")
	})
	s := newTestSite(t, nil, RouteConfig{Path: "/", Upstreams: []string{up.URL}})
	resp := get(t, s, "https://example.com/")
	for _, h := range []string{"X-Secret", "Keep-Alive", "Connection"} {
		if v := resp.Header.Values(h); v != nil {
			t.Errorf("response header %s: %q passed to the client", h, v)
		}
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

// TestForwardedFamilyDropped (found in review): no client-set header of
// the X-Forwarded-* family, X-Real-IP, the other client-address headers
// frameworks trust (True-Client-IP, ...) or a path override
// (X-Original-URL, X-Rewrite-URL) reaches an upstream, on either path.
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
			"X-Forwarded-Server", "X-Forwarded-Proto", "X-Real-Ip", "X-Original-Url", "X-Rewrite-Url", "Forwarded",
			"True-Client-Ip", "X-Client-Ip", "Cf-Connecting-Ip", "Fastly-Client-Ip", "X-Cluster-Client-Ip"} {
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

// FuzzForwardedHeaders parses random request headers as net/http would
// and checks what reaches the upstream: from an untrusted peer, no
// client-chosen X-Forwarded-For, Forwarded or request ID, in any spelling.
func FuzzForwardedHeaders(f *testing.F) {
	seeds := []string{
		"X-Forwarded-For: 6.6.6.6",
		"x-forwarded-for: 6.6.6.6\r\nX-FORWARDED-FOR: 7.7.7.7",
		"X-Forwarded-For: 6.6.6.6, 7.7.7.7\r\nForwarded: for=6.6.6.6\r\nX-Forwarded-Host: evil\r\nX-Forwarded-Proto: http",
		"X-Request-Id: chosen\r\nX-Request-ID: other",
		"Connection: X-Forwarded-For\r\nX-Forwarded-For: 6.6.6.6",
		"Connection: X-Request-Id, Upgrade\r\nUpgrade: websocket",
		"X-Forwarded-For:\r\nX-Real-IP: 6.6.6.6",
		"X-Forwarded-For : 6.6.6.6",
		"X-Forwarded-For:\t6.6.6.6 \t",
		"Te: trailers\r\nTrailer: X-Forwarded-For",
	}
	for _, s := range seeds {
		f.Add(s, false)
		f.Add(s, true)
	}
	opts := testOptions()
	opts.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
	cs := newCaptureSite(f, opts, RouteConfig{Path: "/", Upstreams: []string{"http://upstream.test"}})
	f.Fuzz(func(t *testing.T, headers string, trusted bool) {
		raw := "GET /x HTTP/1.1\r\nHost: example.com\r\n" + headers + "\r\n\r\n"
		in, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		peer := "198.51.100.9"
		if trusted {
			peer = "203.0.113.7"
		}
		in.RemoteAddr = peer + ":4711"
		in.TLS = &tls.ConnectionState{Version: tls.VersionTLS13, HandshakeComplete: true}
		incomingIDs := in.Header.Values("X-Request-Id")
		host := in.Host
		rec := httptest.NewRecorder()
		cs.ServeHTTP(rec, in)
		out := cs.take()
		if out == nil {
			return // refused before reaching the upstream (such as a bad Upgrade)
		}
		var xff []string
		for k, v := range out.Header {
			switch {
			case strings.EqualFold(k, "X-Forwarded-For"):
				if k != "X-Forwarded-For" {
					t.Fatalf("non-canonical %q reached the upstream", k)
				}
				xff = v
			case strings.EqualFold(k, "Forwarded"):
				t.Fatalf("Forwarded: %q reached the upstream", v)
			}
		}
		if len(xff) != 1 {
			t.Fatalf("X-Forwarded-For = %q, want one value", xff)
		}
		if !trusted && xff[0] != peer {
			t.Fatalf("from an untrusted peer, X-Forwarded-For = %q, want %q", xff[0], peer)
		}
		if trusted && xff[0] != peer && !strings.HasSuffix(xff[0], ", "+peer) {
			t.Fatalf("from a trusted peer, X-Forwarded-For = %q, want a chain ending in %q", xff[0], peer)
		}
		if v := out.Header.Values("X-Forwarded-Proto"); len(v) != 1 || v[0] != "https" {
			t.Fatalf("X-Forwarded-Proto = %q", v)
		}
		if v := out.Header.Values("X-Forwarded-Host"); len(v) != 1 || v[0] != host {
			t.Fatalf("X-Forwarded-Host = %q, want %q", v, host)
		}
		ids := out.Header.Values("X-Request-Id")
		if len(ids) != 1 || !validID(ids[0]) || ids[0] != rec.Header().Get("X-Request-Id") {
			t.Fatalf("upstream X-Request-Id %q, client %q", ids, rec.Header().Get("X-Request-Id"))
		}
		if !trusted {
			for _, v := range incomingIDs {
				if v == ids[0] {
					t.Fatalf("an untrusted peer chose the request ID %q", v)
				}
			}
		}
		if v := rec.Header().Values("Strict-Transport-Security"); len(v) != 1 {
			t.Fatalf("response Strict-Transport-Security = %q", v)
		}
	})
}
