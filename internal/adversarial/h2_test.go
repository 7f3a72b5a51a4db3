package adversarial

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2conn is a hand-driven HTTP/2 client connection: it sends whatever
// header fields it is given, pseudo-headers included, with no client-side
// validation or normalisation.
type h2conn struct {
	c      *tls.Conn
	fr     *http2.Framer
	enc    *hpack.Encoder
	encBuf bytes.Buffer
	dec    *hpack.Decoder
	next   uint32 // next client stream ID
}

// h2result is how a stream ended.
type h2result struct {
	Status  string
	Header  map[string][]string
	Body    string
	Reset   bool // RST_STREAM from the server
	Code    http2.ErrCode
	GoAway  bool
	Timeout bool
}

func (r h2result) String() string {
	switch {
	case r.Reset:
		return "RST_STREAM " + r.Code.String()
	case r.GoAway:
		return "GOAWAY " + r.Code.String()
	case r.Timeout:
		return "no answer"
	}
	return fmt.Sprintf("%s %q", r.Status, r.Body)
}

func (p *pki) rawH2(t testing.TB, g *gateway, sni string, cert *tls.Certificate) *h2conn {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: ioTimeout}, "tcp", g.addr, p.tls(sni, cert, "h2"))
	if err != nil {
		t.Fatalf("dialing the gateway: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if c.ConnectionState().NegotiatedProtocol != "h2" {
		t.Fatalf("ALPN chose %q, want h2", c.ConnectionState().NegotiatedProtocol)
	}
	h := &h2conn{c: c, fr: http2.NewFramer(c, c), next: 1}
	h.enc = hpack.NewEncoder(&h.encBuf)
	h.dec = hpack.NewDecoder(4096, nil)
	h.fr.MaxHeaderListSize = 1 << 20
	c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := h.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	h.fr.WriteWindowUpdate(0, 16<<20)
	return h
}

// open sends a HEADERS frame with fields in order (pseudo-headers first,
// as the caller lists them) and returns the stream ID.
func (h *h2conn) open(t testing.TB, fields [][2]string, endStream bool) uint32 {
	t.Helper()
	h.encBuf.Reset()
	for _, f := range fields {
		h.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	id := h.next
	h.next += 2
	h.c.SetWriteDeadline(time.Now().Add(ioTimeout))
	// Frames of at most 16 KiB (the default SETTINGS_MAX_FRAME_SIZE):
	// HEADERS, then CONTINUATION.
	block := h.encBuf.Bytes()
	first := block[:min(len(block), 16384)]
	block = block[len(first):]
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first,
		EndStream: endStream, EndHeaders: len(block) == 0}); err != nil {
		t.Fatalf("writing HEADERS: %v", err)
	}
	for len(block) > 0 {
		n := min(len(block), 16384)
		if err := h.fr.WriteContinuation(id, n == len(block), block[:n]); err != nil {
			t.Fatalf("writing CONTINUATION: %v", err)
		}
		block = block[n:]
	}
	return id
}

// get sends a GET-like request: fields after the four pseudo-headers.
func (h *h2conn) request(t testing.TB, method, authority, path string, extra ...[2]string) h2result {
	t.Helper()
	f := [][2]string{{":method", method}, {":scheme", "https"}, {":authority", authority}, {":path", path}}
	id := h.open(t, append(f, extra...), true)
	return h.wait(id, ioTimeout)
}

// wait reads frames until stream id ends, answering SETTINGS and PING.
func (h *h2conn) wait(id uint32, d time.Duration) h2result {
	var r h2result
	var body bytes.Buffer
	h.c.SetReadDeadline(time.Now().Add(d))
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				r.Timeout = true
			} else {
				r.GoAway = true // connection gone
			}
			return r
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
		case *http2.GoAwayFrame:
			r.GoAway, r.Code = true, f.ErrCode
			if f.LastStreamID < id {
				return r
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				r.Reset, r.Code = true, f.ErrCode
				return r
			}
		case *http2.HeadersFrame:
			// Decode every block, whatever its stream: HPACK state is
			// per connection.
			fields, _ := h.dec.DecodeFull(f.HeaderBlockFragment())
			if f.StreamID != id {
				continue
			}
			if r.Header == nil {
				r.Header = map[string][]string{}
			}
			for _, hf := range fields {
				if hf.Name == ":status" {
					if r.Status == "" || r.Status[0] == '1' {
						r.Status = hf.Value
					}
					continue
				}
				r.Header[hf.Name] = append(r.Header[hf.Name], hf.Value)
			}
			if f.StreamEnded() {
				return r
			}
		case *http2.DataFrame:
			if f.StreamID != id {
				continue
			}
			if body.Len() < 1<<20 {
				body.Write(f.Data())
			}
			r.Body = body.String()
			if n := len(f.Data()); n > 0 {
				h.fr.WriteWindowUpdate(0, uint32(n))
				h.fr.WriteWindowUpdate(id, uint32(n))
			}
			if f.StreamEnded() {
				return r
			}
		}
	}
}

func hpackField(name, value string) hpack.HeaderField {
	return hpack.HeaderField{Name: name, Value: value}
}

// headersParam is a HEADERS frame ending the stream: trailers.
func headersParam(id uint32, block []byte) http2.HeadersFrameParam {
	return http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true}
}
