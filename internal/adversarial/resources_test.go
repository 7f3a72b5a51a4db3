package adversarial

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
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
	t.Run("h2 socket", func(t *testing.T) {
		// Windows open for 16 MiB, and the socket never read: the kernel's
		// buffers fill, and the gateway's writes (behind, on HTTP/2:
		// internal/h1/writebehind.go) stop.
		h := e.pki.rawH2(t, g, "a.test", nil)
		for i := range 16 {
			h.open(t, [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "a.test"}, {":path", fmt.Sprintf("/big/h2s-%d", i)}}, true)
		}
		if !waitFor(3*time.Second, func() bool { return big.active.Load() > 0 }) {
			t.Fatal("no request reached the upstream")
		}
		if !waitFor(10*time.Second, func() bool { return big.active.Load() == 0 }) {
			t.Errorf("STUCK: %d upstream connections still open 10s after an HTTP/2 client stopped reading (timeouts.send 1s)", big.active.Load())
		}
		// The gateway hung up: what the kernel held, then the end.
		h.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := io.Copy(io.Discard, h.c)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("STUCK: the HTTP/2 connection is still open (read %d bytes, then nothing)", n)
		}
		if n >= 16*bigBody {
			t.Errorf("the client got all 16 bodies: nothing was cut")
		}
		t.Logf("the client read %d bytes after it stopped reading, then %v", n, err)
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

// h2Flood runs one flood on a fresh HTTP/2 connection: send writes frames
// until it returns false or a write fails. It reports how many bytes went
// out before the gateway stopped reading or hung up, and whether it
// hung up (GOAWAY or close) within the time allowed.
func h2Flood(t *testing.T, h *h2conn, limit int, send func(n int) ([]byte, bool)) (written int, closed bool) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			h.c.SetReadDeadline(time.Now().Add(8 * time.Second))
			f, err := h.fr.ReadFrame()
			if err != nil {
				return
			}
			if _, ok := f.(*http2.GoAwayFrame); ok {
				return
			}
		}
	}()
	h.c.SetWriteDeadline(time.Now().Add(3 * time.Second))
	for n := 0; written < limit; n++ {
		b, more := send(n)
		if !more {
			break
		}
		m, err := h.c.Write(b)
		written += m
		if err != nil {
			break
		}
	}
	select {
	case <-done:
		return written, true
	case <-time.After(8 * time.Second):
		return written, false
	}
}

// rawFrame encodes one HTTP/2 frame.
func rawFrame(typ http2.FrameType, flags http2.Flags, stream uint32, payload []byte) []byte {
	n := len(payload)
	b := []byte{byte(n >> 16), byte(n >> 8), byte(n), byte(typ), byte(flags),
		byte(stream >> 24), byte(stream >> 16), byte(stream >> 8), byte(stream)}
	return append(b, payload...)
}

func h2Floods(t *testing.T, e *env) {
	rec := newRecorder(t)
	g := startGateway(t, gwConfig("", e.pki.publicInternal("a.test", rec.URL)))
	t.Run("CONTINUATION without end", func(t *testing.T) {
		t.Parallel()
		h := e.pki.rawH2(t, g, "a.test", nil)
		h.encBuf.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "a.test"}, {":path", "/public/cont"}} {
			h.enc.WriteField(hpackField(f[0], f[1]))
		}
		first := rawFrame(http2.FrameHeaders, http2.FlagHeadersEndStream, 1, h.encBuf.Bytes())
		// Literal header fields without indexing, 16 KiB a frame, forever.
		var lit []byte
		for len(lit) < 16000 {
			lit = append(lit, 0x00, 0x03, 'x', '-', 'c', 0x7f, 0x81, 0x07) // value length 1000 (7-bit prefix + 881)
			lit = append(lit, bytes.Repeat([]byte{'a'}, 1000)...)
		}
		written, closed := h2Flood(t, h, 64<<20, func(n int) ([]byte, bool) {
			if n == 0 {
				return first, true
			}
			return rawFrame(http2.FrameContinuation, 0, 1, lit), true
		})
		if !closed || written > 8<<20 {
			t.Errorf("FLOOD: %d bytes of CONTINUATION accepted, connection closed: %v (want it closed after about max_header_bytes)", written, closed)
		}
	})
	t.Run("HPACK bomb", func(t *testing.T) {
		t.Parallel()
		h := e.pki.rawH2(t, g, "a.test", nil)
		fields := [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "a.test"}, {":path", "/public/bomb"}}
		for i := 0; i < 8000; i++ { // each repeat is one byte on the wire, 4 KiB decoded
			fields = append(fields, [2]string{"x-bomb", strings.Repeat("b", 4000)})
		}
		r := h.request(t, "GET", "a.test", "/public/bomb", fields[4:]...)
		if r.Status != "" && r.Status[0] == '2' {
			t.Errorf("FLOOD: 32 MB of decoded headers from an 8 kB block were accepted: %s", r)
		}
	})
	t.Run("PING flood", func(t *testing.T) {
		t.Parallel()
		h := e.pki.rawH2(t, g, "a.test", nil)
		ping := rawFrame(http2.FramePing, 0, 0, make([]byte, 8))
		batch := bytes.Repeat(ping, 1000)
		// Never read the PING ACKs: the gateway must not queue them without
		// bound.
		h.c.SetReadDeadline(time.Now())
		// 2,000,000 PINGs: 34 MB of ACKs owed, more than socket buffers
		// hold, so unsent ACKs must pile up in the gateway.
		const batches = 2000
		written := 0
		h.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		for written < batches*len(batch) {
			m, err := h.c.Write(batch)
			written += m
			if err != nil {
				break
			}
		}
		if written >= batches*len(batch) {
			// Everything went out: the gateway must have hung up on us.
			h.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := io.Copy(io.Discard, h.c)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("FLOOD: %d unanswered PINGs, and the connection is still open", batches*1000)
			}
		}
	})
	for _, s := range rec.all() {
		if s.Path == "/public/cont" || s.Path == "/public/bomb" {
			t.Errorf("a flooded request reached the upstream: %s", s.Path)
		}
	}
	if code, _, _ := get(t, e.pki.httpClient(g, true, nil), "GET", "https://a.test/public/after", nil, nil); code != 200 {
		t.Errorf("after the floods the gateway answers %d", code)
	}
}

func slowHeaders(t *testing.T, e *env) {
	rec := newRecorder(t)
	g := startGateway(t, gwConfig("timeouts: {read_header: 1s}", e.pki.publicInternal("a.test", rec.URL)))
	const clients = 5
	var wg sync.WaitGroup
	cut := make([]time.Duration, clients)
	for i := range clients {
		c := e.pki.rawH1(t, g, "a.test", nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			req := "GET /public/slow HTTP/1.1\r\nHost: a.test\r\n" + strings.Repeat("X-Slow: 1\r\n", 100)
			for j := 0; j < len(req) && time.Since(start) < 8*time.Second; j++ {
				c.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.Write([]byte{req[j]}); err != nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			c.SetReadDeadline(time.Now().Add(time.Second))
			io.Copy(io.Discard, c.br)
			cut[i] = time.Since(start)
		}()
	}
	wg.Wait()
	for i, d := range cut {
		if d > 4*time.Second {
			t.Errorf("SLOWLORIS: client %d trickling its headers held its connection %v (timeouts.read_header 1s)", i, d.Round(time.Millisecond))
		}
	}
	if n := len(rec.all()); n != 0 {
		t.Errorf("%d trickled requests reached the upstream", n)
	}
}
