package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestSendTimeout (finding 7): clients that stop reading a large answer
// are cut off after the send timeout, over HTTP/1.1 and HTTP/2, and the
// upstream connections serving them are released.
func TestSendTimeout(t *testing.T) {
	t.Parallel()
	const size = 16 << 20
	chunk := make([]byte, 32<<10)
	var active atomic.Int32
	upSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		for n := 0; n < size; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	upSrv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			active.Add(1)
		case http.StateClosed, http.StateHijacked:
			active.Add(-1)
		}
	}
	upSrv.Start()
	t.Cleanup(upSrv.Close)
	opts := testOptions()
	opts.Send = time.Second
	s := newTestSite(t, opts, RouteConfig{Path: "/", Upstreams: []string{upSrv.URL}})
	front := httptest.NewUnstartedServer(s)
	front.EnableHTTP2 = true
	front.Listener = SendTimeoutListener(front.Listener, opts.Send)
	front.StartTLS()
	t.Cleanup(front.Close)
	addr := front.Listener.Addr().String()

	const clients = 6
	var conns []net.Conn
	for i := range clients {
		target := "/big"
		if i%2 == 1 {
			target = "/big?m=post" // the ReverseProxy path
		}
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if i%2 == 1 {
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1\r\n\r\nx", target)
		} else {
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: example.com\r\n\r\n", target)
		}
		// Read the head, then stop reading.
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
			t.Fatal(err)
		}
	}
	// An HTTP/2 client whose stream window stays shut: it reads the
	// connection (and answers pings) but never grants the stream credit.
	h2c := h2Stalled(t, addr)
	conns = append(conns, h2c)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for active.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := active.Load(); n > 0 {
		t.Fatalf("%d upstream connections still open 10s after %d clients stopped reading (send timeout 1s)", n, clients+1)
	}
}

// h2Stalled opens an HTTP/2 connection with a small stream window, sends
// one GET /big and never sends WINDOW_UPDATE, while it keeps reading
// frames so that only the stream, not the connection, is stuck.
func h2Stalled(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1024})
	var hb strings.Builder
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "example.com"}, {":path", "/big"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte(hb.String()), EndStream: true, EndHeaders: true})
	go func() {
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			if p, ok := f.(*http2.PingFrame); ok && !p.IsAck() {
				fr.WritePing(true, p.Data)
			}
		}
	}()
	return c
}

// TestUpstreamSendTimeout: an upstream that stops reading a request body
// is cut off after the send timeout (nginx's proxy_send_timeout); the
// client gets an answer and the upstream connection is closed.
func TestUpstreamSendTimeout(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	release := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		// Read the head, then nothing until the client has its answer.
		http.ReadRequest(bufio.NewReader(c))
		<-release
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.Copy(io.Discard, c)
		readErr <- err
	}()
	opts := testOptions()
	opts.Send = time.Second
	opts.UpstreamResponse = 30 * time.Second
	s := newTestSite(t, opts, RouteConfig{Path: "/", Upstreams: []string{"http://" + ln.Addr().String()}})
	front := frontend(t, s)
	c, err := tls.Dial("tcp", front.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const size = 256 << 20 // more than every socket buffer on the way
	go func() {
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: %d\r\n\r\n", size)
		chunk := make([]byte, 64<<10)
		for n := 0; n < size; n += len(chunk) {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	close(release)
	if err != nil {
		t.Fatalf("no answer %v after the upstream stopped reading (send timeout 1s): %v", time.Since(start).Round(time.Millisecond), err)
	}
	if resp.StatusCode != http.StatusBadGateway && resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("status %d, want 502 or 504", resp.StatusCode)
	}
	if err := <-readErr; err != nil && isTimeout(err) {
		t.Errorf("the upstream connection is still open: %v", err)
	}
}

// TestSendTimeoutIdleStream (found in review): the send timeout runs only
// while a write is blocked. A streamed answer whose upstream is quiet for
// longer than it, to a client that reads all the time, is not cut, over
// HTTP/2 or HTTP/1.1.
func TestSendTimeoutIdleStream(t *testing.T) {
	t.Parallel()
	up := handlerBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		time.Sleep(700 * time.Millisecond) // a quiet upstream, longer than Send
		io.WriteString(w, "data: two\n\n")
	})
	opts := testOptions()
	opts.Send = 300 * time.Millisecond
	s := newTestSite(t, opts, RouteConfig{Path: "/", Upstreams: []string{up.URL}})
	front := httptest.NewUnstartedServer(s)
	front.EnableHTTP2 = true
	front.Listener = SendTimeoutListener(front.Listener, opts.Send)
	front.StartTLS()
	t.Cleanup(front.Close)
	for _, proto := range []string{"h2", "http/1.1"} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{proto}}, ForceAttemptHTTP2: proto == "h2"}
		if proto != "h2" {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		resp, err := c.Get(front.URL + "/events")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		if err != nil || string(body) != "data: one\n\ndata: two\n\n" || (proto == "h2") != (resp.ProtoMajor == 2) {
			t.Errorf("%s (%s): a client reading all the time lost the stream: body %q, err %v", proto, resp.Proto, body, err)
		}
	}
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

// TestStallShardShrinks: a stall registry shard grown by a burst of
// requests is rebuilt at its size once three quarters of its peak have
// finished (Go maps never shrink; issue 17), and keeps the rest.
func TestStallShardShrinks(t *testing.T) {
	var r stallRegistry
	r.once.Do(func() {}) // no watcher: nothing here is written
	const peak = 4 * stallShrinkMin
	var ws []*sendWriter
	for len(ws) < peak { // writers that fall in shard 0
		w := &sendWriter{}
		if r.shard(w) == 0 {
			ws = append(ws, w)
		}
	}
	for _, w := range ws {
		r.add(w)
	}
	sh := &r.shards[0]
	grown := reflect.ValueOf(sh.m).UnsafePointer()
	for _, w := range ws[:peak-peak/4-1] {
		r.remove(w)
	}
	if reflect.ValueOf(sh.m).UnsafePointer() != grown {
		t.Fatalf("rebuilt at %d of a peak of %d, want at %d", len(sh.m), peak, peak/4)
	}
	r.remove(ws[peak-peak/4-1])
	if reflect.ValueOf(sh.m).UnsafePointer() == grown {
		t.Fatalf("not rebuilt at %d of a peak of %d", len(sh.m), peak)
	}
	if len(sh.m) != peak/4 || sh.peak != peak/4 {
		t.Fatalf("after the rebuild: %d writers, peak %d; want %d", len(sh.m), sh.peak, peak/4)
	}
	for _, w := range ws[peak-peak/4:] {
		if _, ok := sh.m[w]; !ok {
			t.Fatal("a pending writer was lost in the rebuild")
		}
	}
}
