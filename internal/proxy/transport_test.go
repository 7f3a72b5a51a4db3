package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestUpstreamWithoutPort: an upstream URL without a port ("http://api",
// valid config) is dialled on port 80, on the direct path and the
// ReverseProxy path, and keeps its Host as written. Before, every request
// to it got 502 ("missing port in address").
func TestUpstreamWithoutPort(t *testing.T) {
	t.Parallel()
	var gotHost atomic.Value
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost.Store(r.Host)
		io.WriteString(w, "ok")
	}))
	defer up.Close()
	s := newTestSite(t, nil, RouteConfig{Path: "/", Upstreams: []string{"http://api.internal"}})
	var dialled []string
	var mu sync.Mutex
	tr := s.routes[0].transport
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialled = append(dialled, addr)
		mu.Unlock()
		return (&net.Dialer{}).DialContext(ctx, network, up.Listener.Addr().String())
	}
	for _, method := range []string{"GET", "POST"} {
		r := httptest.NewRequest(method, "https://example.com/x", strings.NewReader(""))
		if method == "POST" {
			r = httptest.NewRequest(method, "https://example.com/x", strings.NewReader("body"))
		}
		resp := serve(s, r)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "ok" || gotHost.Load() != "api.internal" {
			t.Errorf("%s: %d %q, upstream saw Host %v", method, resp.StatusCode, body, gotHost.Load())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range dialled {
		if a != "api.internal:80" {
			t.Errorf("dialled %q, want api.internal:80", a)
		}
	}
	if len(dialled) == 0 {
		t.Error("nothing dialled")
	}
	for in, want := range map[string]string{"api": "api:80", "api:8080": "api:8080", "[::1]": "[::1]:80", "[::1]:81": "[::1]:81", "127.0.0.1": "127.0.0.1:80"} {
		if got := dialAddr(in); got != want {
			t.Errorf("dialAddr(%q) = %q, want %q", in, got, want)
		}
	}
}
