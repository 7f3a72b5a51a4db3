package proxy

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

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
