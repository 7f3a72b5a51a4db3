package adversarial

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

func sendTimeout(t *testing.T, e *env) {
	big, small := newRecorder(t), newRecorder(t)
	g := startGateway(t, gwConfig("timeouts: {send: 1s}", e.pki.site("a.test", "",
		fmt.Sprintf("{path: /big/, upstreams: [%s]}", big.URL),
		fmt.Sprintf("{path: /public/, upstreams: [%s]}", small.URL))))
	t.Run("h1", func(t *testing.T) {
		const clients = 6
		var conns []*rawConn
		for i := 0; i < clients; i++ {
			c := e.pki.rawH1(t, g, "a.test", nil)
			c.send(t, fmt.Sprintf("GET /big/%d HTTP/1.1\r\nHost: a.test\r\n\r\n", i))
			c.SetReadDeadline(time.Now().Add(ioTimeout))
			resp, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("client %d: %v %v", i, resp, err)
			}
			conns = append(conns, c) // and stop reading
		}
		if !waitFor(8*time.Second, func() bool { return big.active.Load() == 0 }) {
			t.Errorf("STUCK: %d upstream connections still open 8s after %d clients stopped reading (timeouts.send 1s)", big.active.Load(), clients)
		}
		for i, c := range conns {
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			n, err := io.Copy(io.Discard, c.br)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("STUCK: client %d's connection is still open (read %d bytes, then nothing)", i, n)
			} else if n >= bigBody {
				t.Errorf("client %d got the whole body: nothing was cut", i)
			}
		}
	})
	t.Run("h2", func(t *testing.T) {
		h := e.pki.rawH2(t, g, "a.test", nil)
		id := h.open(t, [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "a.test"}, {":path", "/big/h2"}}, true)
		// Read without ever opening the stream's window again: after its
		// first MiB the stream is stalled, the connection is not.
		ended, got := false, 0
		deadline := time.Now().Add(8 * time.Second)
		for time.Now().Before(deadline) && !(ended && big.active.Load() == 0) {
			h.c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			f, err := h.fr.ReadFrame()
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				t.Fatalf("the connection died: %v", err)
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					h.fr.WriteSettingsAck()
				}
			case *http2.PingFrame:
				if !f.IsAck() {
					h.fr.WritePing(true, f.Data)
				}
			case *http2.HeadersFrame:
				h.dec.DecodeFull(f.HeaderBlockFragment()) // keep HPACK in step
			case *http2.DataFrame:
				if f.StreamID == id {
					got += len(f.Data())
					ended = ended || f.StreamEnded()
				}
			case *http2.RSTStreamFrame:
				if f.StreamID == id {
					ended = true
				}
			case *http2.GoAwayFrame:
				t.Fatalf("GOAWAY %v: the stalled stream took its connection down", f.ErrCode)
			}
		}
		if !ended {
			t.Errorf("STUCK: the stalled stream was not ended within 8s (it got %d bytes)", got)
		}
		if n := big.active.Load(); n != 0 {
			t.Errorf("STUCK: %d upstream connections still open 8s after the stream stalled", n)
		}
		if r := h.request(t, "GET", "a.test", "/public/alive"); r.Status != "200" {
			t.Errorf("the connection no longer serves other streams: %s", r)
		}
	})
}

func rapidReset(t *testing.T, e *env) {
	rec := newRecorder(t)
	g := startGateway(t, gwConfig("", e.pki.publicInternal("a.test", rec.URL)))
	h := e.pki.rawH2(t, g, "a.test", nil)
	var wmu sync.Mutex // guards writes on h.fr
	go func() {
		for {
			f, err := h.fr.ReadFrame()
			if err != nil {
				return
			}
			if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
				wmu.Lock()
				h.fr.WriteSettingsAck()
				wmu.Unlock()
			}
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A normal client keeps asking while the attack runs.
	var ok, failed atomic.Int64
	var worst atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := e.pki.httpClient(g, true, nil)
		c.Timeout = 5 * time.Second
		for i := 0; ctx.Err() == nil && i < 500; i++ {
			start := time.Now()
			resp, err := c.Get("https://a.test/public/normal")
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != 200 {
				failed.Add(1)
			} else {
				ok.Add(1)
			}
			if d := int64(time.Since(start)); d > worst.Load() {
				worst.Store(d)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	const maxStreams = 2000
	opened := 0
	h.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	for ; opened < maxStreams && time.Since(start) < 5*time.Second; opened++ {
		wmu.Lock()
		h.encBuf.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "a.test"}, {":path", "/public/rr"}} {
			h.enc.WriteField(hpackField(f[0], f[1]))
		}
		id := h.next
		h.next += 2
		err := h.fr.WriteHeaders(headersParam(id, h.encBuf.Bytes()))
		if err == nil {
			err = h.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}
		wmu.Unlock()
		if err != nil {
			break // the gateway closed the connection: also a defence
		}
	}
	attack := time.Since(start)
	time.Sleep(500 * time.Millisecond) // the normal client keeps going a little
	cancel()
	wg.Wait()
	time.Sleep(500 * time.Millisecond) // stragglers reach the upstream
	reached := 0
	for _, s := range rec.all() {
		if s.Path == "/public/rr" {
			reached++
		}
	}
	t.Logf("opened and reset %d streams in %v; %d reached the upstream; normal client: %d ok, %d failed, slowest %v",
		opened, attack.Round(time.Millisecond), reached, ok.Load(), failed.Load(), time.Duration(worst.Load()).Round(time.Millisecond))
	if failed.Load() > 0 || ok.Load() == 0 {
		t.Errorf("STARVED: the normal client had %d failures and %d successes during the attack", failed.Load(), ok.Load())
	}
	if d := time.Duration(worst.Load()); d > 2*time.Second {
		t.Errorf("STARVED: a normal request took %v during the attack", d)
	}
	// Go's HTTP/2 server runs at most MaxConcurrentStreams (250) handlers
	// at once and cancels the rest; most reset streams must die before
	// they are forwarded.
	if reached > opened/2 {
		t.Errorf("FAN-OUT: %d of %d reset streams reached the upstream", reached, opened)
	}
}
