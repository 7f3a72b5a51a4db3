package proxy

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// seen is what an echo backend received, sent back as its JSON body.
type seen struct {
	Name    string
	Method  string
	URI     string
	Host    string
	Header  http.Header
	BodyLen int
}

type backend struct {
	*httptest.Server
	hits atomic.Int32
}

// echoBackend answers every request with a JSON seen.
func echoBackend(t *testing.T, name string) *backend {
	t.Helper()
	b := &backend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(seen{Name: name, Method: r.Method, URI: r.RequestURI, Host: r.Host, Header: r.Header, BodyLen: int(n)})
	}))
	t.Cleanup(b.Close)
	return b
}

func handlerBackend(t *testing.T, h http.HandlerFunc) *backend {
	t.Helper()
	b := &backend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(b.Close)
	return b
}

// deadURL is an http URL on 127.0.0.1 where nothing listens.
func deadURL(t *testing.T) string {
	t.Helper()
	return "http://" + testpeer.ClosedAddr(t)
}

func testOptions() *Options {
	return &Options{
		Log:              slog.New(slog.DiscardHandler),
		UpstreamConnect:  2 * time.Second,
		UpstreamResponse: 5 * time.Second,
	}
}

var testHSTS = HSTS{MaxAge: 63072000, IncludeSubDomains: true, Preload: true}

func newTestSite(t testing.TB, opts *Options, routes ...RouteConfig) *Site {
	t.Helper()
	if opts == nil {
		opts = testOptions()
	}
	s, err := NewSite(SiteConfig{Name: "example.com", HSTS: testHSTS, Routes: routes}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// serve sends r straight to the site's handler.
func serve(s *Site, r *http.Request) *http.Response {
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, r)
	return rec.Result()
}

func get(t *testing.T, s *Site, target string) *http.Response {
	t.Helper()
	r := httptest.NewRequest("GET", target, nil)
	r.RemoteAddr = "203.0.113.7:50000"
	return serve(s, r)
}

func decodeSeen(t *testing.T, resp *http.Response) seen {
	t.Helper()
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var s seen
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

type apiError struct {
	Error     string `json:"error"`
	Status    int    `json:"status"`
	RequestID string `json:"request_id"`
}

// checkError checks a gateway error response: status, JSON body and the
// request ID in both header and body.
func checkError(t *testing.T, resp *http.Response, status int, msg string) {
	t.Helper()
	defer resp.Body.Close()
	if resp.StatusCode != status {
		t.Errorf("status %d, want %d", resp.StatusCode, status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	var e apiError
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("error body is not JSON: %v", err)
	}
	if e.Status != status || !strings.Contains(e.Error, msg) {
		t.Errorf("error body %+v, want status %d and %q", e, status, msg)
	}
	if id := resp.Header.Get("X-Request-Id"); e.RequestID == "" || e.RequestID != id {
		t.Errorf("body request_id %q, header %q: want the same, non-empty", e.RequestID, id)
	}
}

// checkSecurityHeaders checks that the gateway's policy, and only it, is on
// a response.
func checkSecurityHeaders(t *testing.T, h http.Header) {
	t.Helper()
	want := map[string]string{
		"Strict-Transport-Security": "max-age=63072000; includeSubDomains; preload",
		"X-Content-Type-Options":    "nosniff",
		"X-Frame-Options":           "DENY",
		"Referrer-Policy":           "strict-origin-when-cross-origin",
	}
	for k, v := range want {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want exactly %q", k, got, v)
		}
	}
	if ids := h.Values("X-Request-Id"); len(ids) != 1 || !validID(ids[0]) {
		t.Errorf("X-Request-Id = %q, want one well-formed ID", ids)
	}
}

// dialCounter wraps every route transport's dialer to count dials by
// address. Call it before the site serves anything.
type dialCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func countDials(s *Site) *dialCounter {
	dc := &dialCounter{n: map[string]int{}}
	for _, r := range s.routes {
		orig := r.transport.DialContext
		r.transport.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dc.mu.Lock()
			dc.n[addr]++
			dc.mu.Unlock()
			return orig(ctx, network, addr)
		}
	}
	return dc
}

func (dc *dialCounter) count(url string) int {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	return dc.n[strings.TrimPrefix(url, "http://")]
}

// firstPick makes the route's pool try upstream i first.
func firstPick(s *Site, route string, i int) {
	for _, r := range s.routes {
		if r.path == route {
			n := uint32(len(r.pool.ups))
			// pick uses next.Add(1) % n as the first index.
			r.pool.next.Store((uint32(i) + n - 1) % n)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// withGot1xx reports the informational responses a client receives.
func withGot1xx(ctx context.Context, f func(code int, h http.Header)) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			f(code, http.Header(h))
			return nil
		},
	})
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
