package proxy

import (
	"bufio"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// captureSite is a site whose upstream transport records the outbound
// request instead of sending it. Its requests take the ReverseProxy path,
// which builds an outbound *http.Request to record; the direct path is
// held to the same bytes by TestDirectMatchesReverseProxy and FuzzDirect.
type captureSite struct {
	*Site
	mu  sync.Mutex
	out *http.Request
}

func newCaptureSite(t testing.TB, opts *Options, routes ...RouteConfig) *captureSite {
	cs := &captureSite{Site: newTestSite(t, opts, routes...)}
	for _, r := range cs.routes {
		r.direct = false
		r.pool.rt = roundTripFunc(func(out *http.Request) (*http.Response, error) {
			cs.mu.Lock()
			cs.out = out.Clone(out.Context())
			cs.mu.Unlock()
			return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, Request: out}, nil
		})
	}
	return cs
}

func (cs *captureSite) take() *http.Request {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	out := cs.out
	cs.out = nil
	return out
}

func validIDReference(s string) bool {
	if len(s) < 1 || len(s) > 128 {
		return false
	}
	for _, c := range []byte(s) {
		if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:", rune(c)) {
			return false
		}
	}
	return true
}

func FuzzValidID(f *testing.F) {
	for _, s := range []string{"", "abc", "req-1_2.3:4", "bad id", "a\r\nb", strings.Repeat("x", 128), strings.Repeat("x", 129), "é", "a\x00", `"quoted"`, "{json}"} {
		f.Add(s)
	}
	opts := testOptions()
	opts.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
	s := newTestSite(f, opts, RouteConfig{Path: "/", Upstreams: []string{"http://upstream.test"}})
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := validID(id), validIDReference(id); got != want {
			t.Fatalf("validID(%q) = %v, want %v", id, got, want)
		}
		for _, remote := range []string{"203.0.113.7:1", "198.51.100.9:1"} {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = remote
			r.Header["X-Request-Id"] = []string{id}
			got := s.requestID(r)
			if !validID(got) {
				t.Fatalf("requestID gave malformed %q for %q", got, id)
			}
			keep := remote == "203.0.113.7:1" && validID(id)
			if (got == id) != keep {
				t.Fatalf("from %s, request ID %q for incoming %q (keep=%v)", remote, got, id, keep)
			}
		}
	})
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

// FuzzRoutePath checks the path an upstream is sent for any request path:
// a well-formed request target whose escaped and decoded forms agree, on
// the route the decoded path selects, with the prefix stripped and the
// base path added.
func FuzzRoutePath(f *testing.F) {
	for _, s := range []string{"/base..", "/base../x", "/base.%2e/x", "/", "/api", "/api/", "/api/x", "/api%2Fx", "/%61pi/a%2Fb", "/api/a%2Fb?q=1", "/apix", "/base/%2F%2F", "/api/%2e%2e/x", "/api//x", "/%2F", "/api/%25", "/?%", "/api?a=1&b=%zz", "/raw%2Fx", "/r%61w/a%2Fb"} {
		f.Add(s)
	}
	cs := newCaptureSite(f, nil,
		RouteConfig{Path: "/", Upstreams: []string{"http://root.test"}},
		RouteConfig{Path: "/api/", Upstreams: []string{"http://api.test/v1%2Fx/"}, StripPrefix: true},
		RouteConfig{Path: "/base", Upstreams: []string{"http://base.test/b"}, StripPrefix: true},
		RouteConfig{Path: "/raw/", Upstreams: []string{"http://raw.test"}, StripPrefix: true},
	)
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || !strings.HasPrefix(target, "/") || u.Path == "" {
			return
		}
		in := httptest.NewRequest("GET", "/", nil)
		in.URL, in.RequestURI = u, target
		cs.ServeHTTP(httptest.NewRecorder(), in)
		out := cs.take()
		norm := *u
		if normaliseURL(&norm) != "" || !safeQuery(u.RawQuery) {
			if out != nil {
				t.Fatalf("%q was refused but sent", target)
			}
			return
		}
		rt := cs.match(norm.Path)
		if rt == nil {
			if out != nil {
				t.Fatalf("%q matched no route but was sent", target)
			}
			return
		}
		if rt.strip && !rt.strippedNormal(&norm) {
			if out != nil {
				t.Fatalf("%q leaves a dot segment once %s is stripped, but was sent", target, rt.path)
			}
			return
		}
		if out == nil {
			t.Fatalf("%q was not sent", target)
		}
		// Whatever the route did to it, the upstream never gets a dot
		// segment: it could climb out of the upstream's base path.
		for seg := range strings.SplitSeq(out.URL.Path, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("%q sent with a dot segment: %q", target, out.URL.Path)
			}
		}
		uri := out.URL.RequestURI()
		if !strings.HasPrefix(uri, "/") {
			t.Fatalf("%q sent with request target %q", target, uri)
		}
		if dec, err := url.PathUnescape(out.URL.EscapedPath()); err != nil || dec != out.URL.Path {
			t.Fatalf("%q sent as %q, which decodes to %q, not the path %q", target, out.URL.EscapedPath(), dec, out.URL.Path)
		}
		// httputil.ReverseProxy drops a query it cannot parse, against
		// parameter smuggling; one it can parse is passed as is.
		if _, err := url.ParseQuery(u.RawQuery); err == nil && out.URL.RawQuery != u.RawQuery {
			t.Fatalf("%q sent with query %q", target, out.URL.RawQuery)
		}
		strip := func(prefix, base string) string {
			rest := strings.TrimPrefix(u.Path, prefix)
			if !strings.HasPrefix(rest, "/") {
				rest = "/" + rest
			}
			return base + rest
		}
		want := u.Path
		switch rt.path {
		case "/api/":
			want = strip("/api", "/v1/x")
		case "/base":
			want = strip("/base", "/b")
		case "/raw/":
			want = strip("/raw", "")
		}
		if out.URL.Path != want {
			t.Fatalf("%q sent as path %q, want %q", target, out.URL.Path, want)
		}
	})
}
