package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

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
