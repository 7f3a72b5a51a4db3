package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
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

func TestRequestID(t *testing.T) {
	t.Parallel()
	up := echoBackend(t, "up")
	long := strings.Repeat("a", 129)
	tests := []struct {
		name    string
		remote  string
		ids     []string
		keep    bool
		trusted bool
	}{
		{name: "none", remote: "203.0.113.7:1"},
		{name: "untrusted valid", remote: "198.51.100.9:1", ids: []string{"abc-123"}},
		{name: "trusted valid", remote: "203.0.113.7:1", ids: []string{"req-123_abc.DEF:9"}, keep: true},
		{name: "trusted longest", remote: "203.0.113.7:1", ids: []string{long[:128]}, keep: true},
		{name: "trusted too long", remote: "203.0.113.7:1", ids: []string{long}},
		{name: "trusted bad chars", remote: "203.0.113.7:1", ids: []string{"bad id"}},
		{name: "trusted quote", remote: "203.0.113.7:1", ids: []string{`a"b`}},
		{name: "trusted empty", remote: "203.0.113.7:1", ids: []string{""}},
		{name: "trusted two", remote: "203.0.113.7:1", ids: []string{"one", "two"}},
	}
	opts := testOptions()
	opts.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
	s := newTestSite(t, opts, RouteConfig{Path: "/", Upstreams: []string{up.URL}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "https://example.com/", nil)
			r.RemoteAddr = tt.remote
			if tt.ids != nil {
				r.Header["X-Request-Id"] = tt.ids
			}
			resp := serve(s, r)
			id := resp.Header.Get("X-Request-Id")
			got := decodeSeen(t, resp)
			if up := got.Header.Values("X-Request-Id"); len(up) != 1 || up[0] != id {
				t.Errorf("upstream got X-Request-Id %q, client got %q: want the same one", up, id)
			}
			if tt.keep {
				if id != tt.ids[0] {
					t.Errorf("request ID %q, want the trusted proxy's %q", id, tt.ids[0])
				}
				return
			}
			if !validID(id) || strings.HasPrefix(id, "req-") || id == "abc-123" || len(id) > 40 {
				t.Errorf("request ID %q, want a new one", id)
			}
		})
	}
}

func TestRequestIDUnique(t *testing.T) {
	t.Parallel()
	s := newTestSite(t, nil, RouteConfig{Path: "/", Upstreams: []string{"http://127.0.0.1:1"}})
	const goroutines, each = 8, 500
	var mu sync.Mutex
	ids := map[string]bool{}
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			r := httptest.NewRequest("GET", "/", nil)
			local := make([]string, 0, each)
			for range each {
				local = append(local, s.requestID(r))
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range local {
				if ids[id] || !validID(id) {
					t.Errorf("request ID %q repeated or malformed", id)
				}
				ids[id] = true
			}
		})
	}
	wg.Wait()
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	root, api, admin, raw, ver, enc := echoBackend(t, "root"), echoBackend(t, "api"), echoBackend(t, "admin"), echoBackend(t, "raw"), echoBackend(t, "ver"), echoBackend(t, "enc")
	s := newTestSite(t, nil,
		RouteConfig{Path: "/", Upstreams: []string{root.URL}},
		RouteConfig{Path: "/api/", Upstreams: []string{api.URL}, StripPrefix: true},
		RouteConfig{Path: "/api/admin/", Upstreams: []string{admin.URL + "/internal"}},
		RouteConfig{Path: "/raw/", Upstreams: []string{raw.URL}},
		RouteConfig{Path: "/v/", Upstreams: []string{ver.URL + "/v1/"}, StripPrefix: true},
		RouteConfig{Path: "/enc/", Upstreams: []string{enc.URL + "/x%2Fy"}, StripPrefix: true},
		RouteConfig{Path: "/exact", Upstreams: []string{raw.URL + "/e"}, StripPrefix: true},
	)
	tests := []struct {
		path     string
		upstream string
		uri      string
	}{
		{"/", "root", "/"},
		{"/index.html?q=1&r=%20", "root", "/index.html?q=1&r=%20"},
		{"/api/users?id=7", "api", "/users?id=7"},
		{"/api/", "api", "/"},
		{"/api", "api", "/"},
		{"/apix", "root", "/apix"},
		{"/API/users", "root", "/API/users"},
		{"/api/admin/x", "admin", "/internal/api/admin/x"},
		{"/api/admin", "admin", "/internal/api/admin"},
		{"/api/administrator", "api", "/administrator"},
		{"/api/a%2Fb", "api", "/a%2Fb"},
		{"/api/a%2Fb/c%20d", "api", "/a%2Fb/c%20d"},
		{"/%61pi/a%2Fb", "api", "/a%2Fb"},
		{"/api%2Fx", "api", "/x"},
		{"/raw/a%2Fb", "raw", "/raw/a%2Fb"},
		{"/v/users", "ver", "/v1/users"},
		{"/v/a%2Fb", "ver", "/v1/a%2Fb"},
		{"/v", "ver", "/v1/"},
		{"/enc/z", "enc", "/x%2Fy/z"},
		{"/enc/a%2Fb", "enc", "/x%2Fy/a%2Fb"},
		{"/exact", "raw", "/e/"},
		{"/exactly", "raw", "/e/ly"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			got := decodeSeen(t, get(t, s, "https://example.com"+tt.path))
			if got.Name != tt.upstream || got.URI != tt.uri {
				t.Errorf("%s went to %s as %q, want %s as %q", tt.path, got.Name, got.URI, tt.upstream, tt.uri)
			}
		})
	}
}

func TestNoRoute(t *testing.T) {
	t.Parallel()
	up := echoBackend(t, "api")
	s := newTestSite(t, nil, RouteConfig{Path: "/api/", Upstreams: []string{up.URL}})
	for _, p := range []string{"/", "/ap", "/apix", "/other/api/"} {
		checkError(t, get(t, s, "https://example.com"+p), 404, "no route")
	}
	if up.hits.Load() != 0 {
		t.Error("a request without a route reached the upstream")
	}
}

func TestRoundRobin(t *testing.T) {
	t.Parallel()
	a, b := echoBackend(t, "a"), echoBackend(t, "b")
	s := newTestSite(t, nil, RouteConfig{Path: "/", Upstreams: []string{a.URL, b.URL}})
	var order []string
	for range 10 {
		order = append(order, decodeSeen(t, get(t, s, "https://example.com/")).Name)
	}
	for i := 1; i < len(order); i++ {
		if order[i] == order[i-1] {
			t.Fatalf("upstreams not used in turn: %v", order)
		}
	}
	if a.hits.Load() != 5 || b.hits.Load() != 5 {
		t.Errorf("hits a=%d b=%d, want 5 each", a.hits.Load(), b.hits.Load())
	}
}

func TestDeadUpstreamLeavesRotation(t *testing.T) {
	t.Parallel()
	live, dead := echoBackend(t, "live"), deadURL(t)
	s := newTestSite(t, nil, RouteConfig{Path: "/", Upstreams: []string{dead, live.URL}})
	dials := countDials(s)
	firstPick(s, "/", 0)
	for i := range 6 {
		if got := decodeSeen(t, get(t, s, "https://example.com/")); got.Name != "live" {
			t.Fatalf("request %d answered by %s", i, got.Name)
		}
	}
	if n := dials.count(dead); n != 1 {
		t.Errorf("%d dials to the dead upstream, want 1 (then back-off)", n)
	}
	if n := live.hits.Load(); n != 6 {
		t.Errorf("live upstream got %d requests, want 6", n)
	}
}

func TestRetry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		body   string
		retry  bool
	}{
		{"GET", "GET", "", true},
		{"HEAD", "HEAD", "", true},
		{"POST without body", "POST", "", true},
		{"DELETE", "DELETE", "", true},
		{"POST with body", "POST", `{"a":1}`, false},
		{"PUT with body", "PUT", "data", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			live := echoBackend(t, "live")
			s := newTestSite(t, nil, RouteConfig{Path: "/", Upstreams: []string{deadURL(t), live.URL}})
			firstPick(s, "/", 0)
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			r := httptest.NewRequest(tt.method, "https://example.com/", body)
			resp := serve(s, r)
			resp.Body.Close()
			if tt.retry {
				if resp.StatusCode != 200 || live.hits.Load() != 1 {
					t.Errorf("status %d, live hits %d: want the request retried on the live upstream", resp.StatusCode, live.hits.Load())
				}
				return
			}
			if resp.StatusCode != http.StatusBadGateway || live.hits.Load() != 0 {
				t.Errorf("status %d, live hits %d: a request with a body that cannot be replayed was retried", resp.StatusCode, live.hits.Load())
			}
		})
	}
}

// TestNoRetryAfterConnect: once connected, the request may have been
// processed, so it is not sent again, not even a GET.
func TestNoRetryAfterConnect(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.ReadFull(c, make([]byte, 10)) // read some of the request, then hang up
			c.Close()
		}
	}()
	live := echoBackend(t, "live")
	s := newTestSite(t, nil, RouteConfig{Path: "/", Upstreams: []string{"http://" + ln.Addr().String(), live.URL}})
	firstPick(s, "/", 0)
	checkError(t, get(t, s, "https://example.com/"), 502, "could not be reached")
	if live.hits.Load() != 0 {
		t.Error("a request that reached an upstream was sent again")
	}
}

func TestAllUpstreamsDown(t *testing.T) {
	t.Parallel()
	s := newTestSite(t, nil, RouteConfig{Path: "/", Upstreams: []string{deadURL(t), deadURL(t)}})
	for range 3 { // in back-off, they are still tried rather than failed outright
		resp := get(t, s, "https://example.com/")
		checkSecurityHeaders(t, resp.Header)
		checkError(t, resp, 502, "the upstream could not be reached")
	}
}

func TestUpstreamTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	slow := handlerBackend(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	opts := testOptions()
	opts.UpstreamResponse = 100 * time.Millisecond
	s := newTestSite(t, opts, RouteConfig{Path: "/", Upstreams: []string{slow.URL}})
	start := time.Now()
	checkError(t, get(t, s, "https://example.com/"), 504, "did not answer in time")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("504 took %v", d)
	}
}

func TestClientGone(t *testing.T) {
	t.Parallel()
	slow := handlerBackend(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	other := echoBackend(t, "other")
	s := newTestSite(t, nil, RouteConfig{Path: "/", Upstreams: []string{slow.URL, other.URL}})
	firstPick(s, "/", 0)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	r := httptest.NewRequestWithContext(ctx, "GET", "https://example.com/", nil)
	resp := serve(s, r)
	if resp.StatusCode != 499 {
		t.Errorf("status %d, want 499 for a client that went away", resp.StatusCode)
	}
	// The upstream was not at fault: it stays in rotation.
	for _, u := range s.routes[0].pool.ups {
		if u.downUntil.Load() != 0 {
			t.Errorf("upstream %s put in back-off because a client left", u.name)
		}
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

// frontend serves the site over real TLS on 127.0.0.1, so that connection
// deadlines apply.
func frontend(t *testing.T, s *Site) *httptest.Server {
	t.Helper()
	front := httptest.NewUnstartedServer(s)
	front.EnableHTTP2 = true
	front.StartTLS()
	t.Cleanup(front.Close)
	return front
}

func TestBodyReadDeadline(t *testing.T) {
	t.Parallel()
	const bodyRead = 200 * time.Millisecond
	counter := handlerBackend(t, func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
		}
		json.NewEncoder(w).Encode(n)
	})
	streamer := handlerBackend(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		chunk := bytes.Repeat([]byte("x"), 256<<10)
		for range 16 { // 4 MiB over about 3 bodyRead periods
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(bodyRead / 5)
		}
	})
	opts := testOptions()
	opts.BodyRead = bodyRead
	logs := &recordHandler{}
	opts.Log = slog.New(logs)
	t.Cleanup(func() {
		if t.Failed() {
			logs.dump(t)
		}
	})
	s := newTestSite(t, opts,
		RouteConfig{Path: "/count", Upstreams: []string{counter.URL}},
		RouteConfig{Path: "/stream", Upstreams: []string{streamer.URL}})
	front := frontend(t, s)

	for _, proto := range []string{"HTTP/1.1", "HTTP/2"} {
		client := front.Client()
		if proto == "HTTP/1.1" {
			tr := client.Transport.(*http.Transport).Clone()
			tr.ForceAttemptHTTP2 = false
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			tr.TLSClientConfig.NextProtos = nil
			client = &http.Client{Transport: tr}
		}
		t.Run(proto+"/slow upload", func(t *testing.T) {
			// Sent in pieces over more than twice the body-read timeout,
			// but never pausing as long as it.
			pr, pw := io.Pipe()
			go func() {
				for range 10 {
					pw.Write(bytes.Repeat([]byte("y"), 4096))
					time.Sleep(bodyRead / 4)
				}
				pw.Close()
			}()
			resp, err := client.Post(front.URL+"/count", "application/octet-stream", pr)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.ProtoMajor != map[string]int{"HTTP/1.1": 1, "HTTP/2": 2}[proto] {
				t.Fatalf("spoke %s", resp.Proto)
			}
			var n int
			json.NewDecoder(resp.Body).Decode(&n)
			if resp.StatusCode != 200 || n != 40960 {
				t.Errorf("status %d, upstream read %d bytes; want 200 and 40960", resp.StatusCode, n)
			}
		})
		t.Run(proto+"/long response after upload", func(t *testing.T) {
			resp, err := client.Post(front.URL+"/stream", "text/plain", strings.NewReader("hello"))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			n, err := io.Copy(io.Discard, resp.Body)
			if err != nil || n != 16*256<<10 {
				t.Errorf("read %d bytes, err %v; want the whole 4 MiB", n, err)
			}
		})
		t.Run(proto+"/stalled upload", func(t *testing.T) {
			pr, pw := io.Pipe()
			defer pw.Close()
			go func() {
				pw.Write(bytes.Repeat([]byte("y"), 4096))
				// then nothing more, until the test ends
			}()
			type result struct {
				status int
				err    error
			}
			done := make(chan result, 1)
			go func() {
				resp, err := client.Post(front.URL+"/count", "application/octet-stream", pr)
				if err != nil {
					done <- result{err: err}
					return
				}
				resp.Body.Close()
				done <- result{status: resp.StatusCode}
			}()
			select {
			case res := <-done:
				if res.status != http.StatusRequestTimeout {
					t.Errorf("status %d, err %v; want 408", res.status, res.err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("a stalled upload was not cut off")
			}
			// The client stalled, not the upstream: it stays in rotation.
			for _, r := range s.routes {
				for _, u := range r.pool.ups {
					if u.downUntil.Load() != 0 {
						t.Errorf("upstream %s put in back-off because a client stalled", u.name)
					}
				}
			}
		})
	}
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	up := echoBackend(t, "up")
	logs := &recordHandler{}
	opts := testOptions()
	opts.Log = slog.New(logs)
	opts.AccessLog = true
	s := newTestSite(t, opts,
		RouteConfig{Path: "/", Upstreams: []string{up.URL}},
		RouteConfig{Path: "/down/", Upstreams: []string{deadURL(t)}})
	for _, tc := range []struct {
		path     string
		status   int
		upstream string
	}{{"/ok", 200, up.URL}, {"/down/x", 502, "http://"}} {
		resp := get(t, s, "https://example.com"+tc.path)
		io.Copy(io.Discard, resp.Body)
		id := resp.Header.Get("X-Request-Id")
		rec := logs.find("request", "request_id", id)
		if rec == nil {
			t.Fatalf("%s: no access log line with request_id %s", tc.path, id)
		}
		if rec["status"] != int64(tc.status) || rec["path"] != tc.path || rec["method"] != "GET" || rec["site"] != "example.com" ||
			!strings.HasPrefix(rec["upstream"].(string), tc.upstream) {
			t.Errorf("%s: access log %v", tc.path, rec)
		}
	}
}

// recordHandler keeps log records as attribute maps.
type recordHandler struct {
	mu   sync.Mutex
	recs []map[string]any
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordHandler) WithGroup(string) slog.Handler            { return h }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{"msg": r.Message}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.Any()
		return true
	})
	h.mu.Lock()
	h.recs = append(h.recs, m)
	h.mu.Unlock()
	return nil
}

func (h *recordHandler) dump(t *testing.T) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.recs {
		t.Logf("log: %v", r)
	}
}

func (h *recordHandler) find(msg, key string, val any) map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.recs {
		if r["msg"] == msg && r[key] == val {
			return r
		}
	}
	return nil
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	u := &upstream{name: "u"}
	t0 := time.Unix(1_000_000, 0)
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30, 30}
	for i, w := range want {
		if got := u.markFailed(t0); got != w*time.Second {
			t.Errorf("failure %d: back-off %v, want %v", i+1, got, w*time.Second)
		}
	}
	u.markHealthy()
	if u.downUntil.Load() != 0 || u.fails.Load() != 0 {
		t.Error("markHealthy did not reset the upstream")
	}
	if got := u.markFailed(t0); got != time.Second {
		t.Errorf("after recovery, back-off %v, want 1s again", got)
	}

	p, err := newPool([]string{"http://a", "http://b", "http://c"}, nil, "/", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	p.ups[1].markFailed(t0)             // b down until t0+1s
	p.ups[2].markFailed(t0.Add(-500e6)) // c down until t0+0.5s
	for range 6 {
		if got := p.pick(t0.UnixNano(), 0); got != p.ups[0] {
			t.Fatalf("picked %s while b and c are in back-off", got.name)
		}
	}
	// a tried already: the one back soonest is still attempted.
	if got := p.pick(t0.UnixNano(), 1); got != p.ups[2] {
		t.Errorf("with a tried, picked %v, want c (back soonest)", got.name)
	}
	if got := p.pick(t0.UnixNano(), 0b111); got != nil {
		t.Errorf("with all tried, picked %s", got.name)
	}
	// After the back-off, b and c are in rotation again.
	seen := map[string]bool{}
	for range 6 {
		seen[p.pick(t0.Add(time.Second).UnixNano(), 0).name] = true
	}
	if len(seen) != 3 {
		t.Errorf("after back-off picked only %v", seen)
	}

	one, _ := newPool([]string{"http://only"}, nil, "/", slog.New(slog.DiscardHandler))
	one.ups[0].markFailed(t0)
	if one.pick(t0.UnixNano(), 0) != one.ups[0] || one.pick(t0.UnixNano(), 1) != nil {
		t.Error("a single upstream must always be tried once, and only once")
	}
}

func TestNewSiteBadUpstream(t *testing.T) {
	t.Parallel()
	_, err := NewSite(SiteConfig{Routes: []RouteConfig{{Path: "/", Upstreams: []string{"http://[::1"}}}}, testOptions())
	if err == nil || !strings.Contains(err.Error(), `upstream "http://[::1"`) {
		t.Errorf("NewSite with a bad URL: %v", err)
	}
}
