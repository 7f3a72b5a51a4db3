package server

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

// TestHTTP2AnswersNotIndexed: the header fields of HTTP/2 answers are sent
// as literals that never enter HPACK's dynamic table, so the table holds
// nothing per connection, and no answer's fields are compressed against
// an earlier answer's. Three GETs on one connection; every representation
// in every answer's header block is read.
func TestHTTP2AnswersNotIndexed(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	g := startGateway(t, oneSite(p, "intermediate", backend(t, "a"), ""))

	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", g.https,
		&tls.Config{RootCAs: p.ca.Pool(), ServerName: "localhost", NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.ConnectionState().NegotiatedProtocol != "h2" {
		t.Fatalf("ALPN chose %q", c.ConnectionState().NegotiatedProtocol)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fr := http2.NewFramer(c, c)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var reqBuf bytes.Buffer
	enc := hpack.NewEncoder(&reqBuf)
	dec := hpack.NewDecoder(4096, nil)
	for i, id := 0, uint32(1); i < 3; i, id = i+1, id+2 {
		reqBuf.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "localhost"}, {":path", fmt.Sprintf("/n/%d", i)}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: reqBuf.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
		var block []byte
		for block == nil {
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("answer %d: %v", i+1, err)
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					fr.WriteSettingsAck()
				}
			case *http2.HeadersFrame:
				if f.StreamID != id || !f.HeadersEnded() {
					t.Fatalf("answer %d: HEADERS on stream %d, end_headers %v", i+1, f.StreamID, f.HeadersEnded())
				}
				block = f.HeaderBlockFragment()
			}
		}
		if err := literalsOnly(block); err != nil {
			t.Errorf("answer %d: %v (block %x)", i+1, err, block)
		}
		fields, err := dec.DecodeFull(block)
		if err != nil {
			t.Fatalf("answer %d: %v", i+1, err)
		}
		got := map[string]string{}
		for _, f := range fields {
			got[f.Name] = f.Value
		}
		if got[":status"] != "200" || got["strict-transport-security"] == "" || got["x-request-id"] == "" {
			t.Errorf("answer %d: fields %v", i+1, got)
		}
	}
}

// literalsOnly reports an HPACK representation (RFC 7541 section 6) that
// refers to or adds to the dynamic table: a literal with incremental
// indexing, an index past the static table's 61, or a table size over 1.
func literalsOnly(b []byte) error {
	integer := func(prefix uint) (uint64, error) { // section 5.1
		if len(b) == 0 {
			return 0, io.ErrUnexpectedEOF
		}
		limit := uint64(1)<<prefix - 1
		v := uint64(b[0]) & limit
		b = b[1:]
		if v < limit {
			return v, nil
		}
		for m := uint(0); m < 63; m += 7 {
			if len(b) == 0 {
				break
			}
			c := b[0]
			b = b[1:]
			v += uint64(c&0x7f) << m
			if c&0x80 == 0 {
				return v, nil
			}
		}
		return 0, io.ErrUnexpectedEOF
	}
	skipString := func() error { // section 5.2
		n, err := integer(7)
		if err != nil || n > uint64(len(b)) {
			return io.ErrUnexpectedEOF
		}
		b = b[n:]
		return nil
	}
	for len(b) > 0 {
		switch first := b[0]; {
		case first&0x80 != 0: // indexed field
			i, err := integer(7)
			if err != nil {
				return err
			}
			if i > 61 {
				return fmt.Errorf("indexed field %d is in the dynamic table", i)
			}
		case first&0xc0 == 0x40:
			return fmt.Errorf("literal with incremental indexing (byte %#x)", first)
		case first&0xe0 == 0x20: // dynamic table size update
			n, err := integer(5)
			if err != nil {
				return err
			}
			if n > 1 {
				return fmt.Errorf("dynamic table size update to %d", n)
			}
		default: // literal without indexing (0000) or never indexed (0001)
			i, err := integer(4)
			if err != nil {
				return err
			}
			if i > 61 {
				return fmt.Errorf("literal names dynamic table entry %d", i)
			}
			if i == 0 {
				if err := skipString(); err != nil {
					return err
				}
			}
			if err := skipString(); err != nil {
				return err
			}
		}
	}
	return nil
}
