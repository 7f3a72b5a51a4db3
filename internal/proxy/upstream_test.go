package proxy

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

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
	// The message says what happened (issue 15, item 4: it said "could
	// not be reached" of an upstream that was reached).
	checkError(t, get(t, s, "https://example.com/"), 502, "the upstream closed the connection before answering")
	if live.hits.Load() != 0 {
		t.Error("a request that reached an upstream was sent again")
	}
	// It was reached: it stays in rotation (README: only upstreams that
	// cannot be connected to leave it).
	if n := s.routes[0].pool.ups[0].fails.Load(); n != 0 {
		t.Errorf("an upstream that hung up mid-request has %d recorded failures; it left rotation", n)
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

// TestUpstreamLastResult: an upstream that failed three times in a row is
// back in rotation once its back-off has passed, but its report still
// says that the last attempt failed, why and when; a success clears it.
func TestUpstreamLastResult(t *testing.T) {
	t.Parallel()
	s := newTestSite(t, nil, RouteConfig{Path: "/", Upstreams: []string{deadURL(t)}})
	start := time.Now()
	for range 3 {
		get(t, s, "https://example.com/").Body.Close()
	}
	u := s.routes[0].pool.ups[0]
	u.downUntil.Store(time.Now().Add(-time.Millisecond).UnixNano()) // the back-off has passed
	got := s.Upstreams()
	if len(got) != 1 {
		t.Fatalf("upstreams: %+v", got)
	}
	st := got[0]
	if !st.Healthy || st.ConsecutiveFailures != 3 || st.LastResult != "failed" ||
		!strings.Contains(st.LastError, "connection refused") || st.LastAttempt.Before(start) || st.LastAttempt.After(time.Now()) {
		t.Errorf("after 3 failures and the back-off: %+v", st)
	}

	u.markHealthy(time.Now().UnixNano())
	st = s.Upstreams()[0]
	if st.LastResult != "ok" || st.LastError != "" || st.ConsecutiveFailures != 0 {
		t.Errorf("after a success: %+v", st)
	}
	// A success within attemptGrain of the last one is not stored again.
	at := u.lastAttempt.Load()
	u.markHealthy(at + int64(attemptGrain)/2)
	if u.lastAttempt.Load() != at {
		t.Error("a success stored twice within attemptGrain")
	}
	u.markHealthy(at + int64(attemptGrain))
	if u.lastAttempt.Load() == at {
		t.Error("a success after attemptGrain not stored")
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	u := &upstream{name: "u"}
	t0 := time.Unix(1_000_000, 0)
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30, 30}
	for i, w := range want {
		if got := u.markFailed(t0, nil); got != w*time.Second {
			t.Errorf("failure %d: back-off %v, want %v", i+1, got, w*time.Second)
		}
	}
	u.markHealthy(t0.UnixNano())
	if u.downUntil.Load() != 0 || u.fails.Load() != 0 {
		t.Error("markHealthy did not reset the upstream")
	}
	if got := u.markFailed(t0, nil); got != time.Second {
		t.Errorf("after recovery, back-off %v, want 1s again", got)
	}

	p, err := newPool([]string{"http://a", "http://b", "http://c"}, nil, "/", slog.New(slog.DiscardHandler), testOptions().sharedParts(), nil)
	if err != nil {
		t.Fatal(err)
	}
	p.ups[1].markFailed(t0, nil)             // b down until t0+1s
	p.ups[2].markFailed(t0.Add(-500e6), nil) // c down until t0+0.5s
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

	one, _ := newPool([]string{"http://only"}, nil, "/", slog.New(slog.DiscardHandler), testOptions().sharedParts(), nil)
	one.ups[0].markFailed(t0, nil)
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

// TestRoutesShareUpstreamConnections (issue 17): routes to one upstream
// with one TLS config share its connections and its health record, so
// the number of upstream connections does not grow with the number of
// routes; an upstream with another base path is another upstream.
func TestRoutesShareUpstreamConnections(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}))
	up.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	defer up.Close()
	var routes []RouteConfig
	for i := range 50 {
		routes = append(routes, RouteConfig{Path: fmt.Sprintf("/r%d/", i), Upstreams: []string{up.URL}})
	}
	routes = append(routes, RouteConfig{Path: "/based/", Upstreams: []string{up.URL + "/base"}})
	s := newTestSite(t, nil, routes...)
	for i := range 50 {
		for _, m := range []string{"GET", "POST"} { // the direct path and ReverseProxy
			r := httptest.NewRequest(m, fmt.Sprintf("https://example.com/r%d/x", i), strings.NewReader(""))
			resp := serve(s, r)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(b) != fmt.Sprintf("/r%d/x", i) {
				t.Fatalf("%s /r%d/x: %d %q", m, i, resp.StatusCode, b)
			}
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("100 sequential requests over 50 routes to one upstream opened %d connections, want 1", n)
	}
	byPath := map[string]*route{}
	for _, rt := range s.routes {
		byPath[rt.path] = rt
	}
	if byPath["/r1/"].pool.ups[0] != byPath["/r2/"].pool.ups[0] {
		t.Error("two routes to one upstream URL keep separate health records")
	}
	if byPath["/based/"].pool.ups[0] == byPath["/r1/"].pool.ups[0] {
		t.Error("an upstream with another base path shares the record (its path would be lost)")
	}
	resp := get(t, s, "https://example.com/based/y")
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "/base/based/y" {
		t.Errorf("/based/y reached %q, want /base/based/y", b)
	}
}
