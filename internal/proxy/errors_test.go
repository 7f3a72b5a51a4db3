package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

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

// TestStatusBelow100 (found by the differential test): http.ReadResponse
// takes "HTTP/1.1 000", on which net/http's WriteHeader panics. The
// client gets a 502 on both paths, and the gateway goes on.
func TestStatusBelow100(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				io.WriteString(c, "HTTP/1.1 000 Zero\r\nContent-Length: 2\r\n\r\nok")
			}()
		}
	}()
	s := newTestSite(t, nil, RouteConfig{Path: "/", Upstreams: []string{"http://" + ln.Addr().String()}})
	for _, method := range []string{"GET", "POST"} {
		r := httptest.NewRequest(method, "https://example.com/", strings.NewReader("x"))
		if method == "GET" {
			r = httptest.NewRequest(method, "https://example.com/", nil)
		}
		resp := serve(s, r)
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("%s: status %d, want 502", method, resp.StatusCode)
		}
	}
}
