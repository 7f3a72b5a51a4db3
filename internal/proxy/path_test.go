package proxy

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"testing"
)

// FuzzNormalisePath holds normalisePath to its invariant: for any path it
// accepts, an upstream that decodes escapes and then resolves dot
// segments and repeated slashes (nginx, most frameworks) reaches the path
// the gateway matched its route on; the result is normal (idempotent, no
// dot segments, no empty segments) and keeps its escapes well formed.
func FuzzNormalisePath(f *testing.F) {
	for _, s := range []string{
		"/", "/a/b", "/public/../internal/x", "/public/%2e%2e/internal/x", "/public/.%2E/x",
		"//a//b/", "/a/./b/../c/", "/../..", "/%70ublic", "/a%20b", "/a%2fb", "/a%5c", "/a;b",
		"/a/..;/b", "/%252e%252e/", "/a%00", "/a%zz", "/a/%2e", "/a/.%2e/", "*", "", "a/b",
		"/a/b/..", "/a%25b", "/%7e/%41",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		clean, refuse := normalisePath(p)
		if refuse != "" {
			if clean != "" {
				t.Fatalf("%q refused (%s) but cleaned to %q", p, refuse, clean)
			}
			return
		}
		if clean == "" || clean[0] != '/' {
			t.Fatalf("%q -> %q: not absolute", p, clean)
		}
		if again, why := normalisePath(clean); again != clean || why != "" {
			t.Fatalf("not idempotent: %q -> %q -> %q (%s)", p, clean, again, why)
		}
		decoded, err := url.PathUnescape(clean)
		if err != nil {
			t.Fatalf("%q -> %q: escapes broken: %v", p, clean, err)
		}
		inner := strings.TrimSuffix(clean[1:], "/")
		if inner != "" {
			for _, seg := range strings.Split(inner, "/") {
				if seg == "" || seg == "." || seg == ".." {
					t.Fatalf("%q -> %q: segment %q left", p, clean, seg)
				}
			}
		}
		// What a decoding, dot-resolving upstream makes of the input and
		// of what is forwarded must be what the route matched on.
		orig, err := url.PathUnescape(p)
		if err != nil {
			t.Fatalf("%q accepted with broken escapes", p)
		}
		if got, want := path.Clean(decoded), path.Clean("/"+orig); got != want {
			t.Fatalf("%q: the gateway matched %q, an upstream resolves %q", p, decoded, want)
		}
		if path.Clean(decoded) != strings.TrimSuffix(decoded, "/") && decoded != "/" {
			t.Fatalf("%q -> %q: decoded %q is not clean", p, clean, decoded)
		}
	})
}

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

// TestSpaceInQueryRefused: HTTP/2 lets a space through in the query, which
// would end the upstream's request target early; such a request gets 400
// and never reaches the upstream, on either path.
func TestSpaceInQueryRefused(t *testing.T) {
	t.Parallel()
	p := newDirectPair(t, true)
	p.up.setReply(func(string) string { return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" })
	for _, srv := range []*httptest.Server{p.direct, p.reference} {
		for _, method := range []string{"GET", "POST"} {
			r := httptest.NewRequest(method, "https://example.com/a", nil)
			r.URL.RawQuery = "x HTTP/1.1 /admin"
			resp := serve(srv.Config.Handler.(*Site), r)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s with a space in the query: status %d, want 400", method, resp.StatusCode)
			}
		}
		if got := p.up.take(); len(got) != 0 {
			t.Errorf("the upstream received %q", got)
		}
	}
}
