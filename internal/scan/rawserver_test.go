package scan

import (
	"crypto/rand"
	"encoding/binary"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// rawServer is a TLS responder for what Debian's OpenSSL 3 and Go's
// crypto/tls cannot serve: SSL 2.0, SSL 3.0 and a Heartbleed-vulnerable
// heartbeat. It answers a ClientHello with a ServerHello for one fixed
// protocol version and cipher suite, its certificate and ServerHelloDone,
// then stops: enough for protocol and cipher detection, which never go
// past ServerHelloDone.
type rawServer struct {
	version uint16 // versionSSL20, versionSSL30 ... versionTLS12
	suite   uint16 // the one suite it accepts (not used for SSL 2.0)
	// accept, when set, replaces suite: the suites it accepts, in its
	// order of preference, used when ownOrder is set (otherwise it takes
	// the client's first that it accepts).
	accept   []uint16
	ownOrder bool
	chain    [][]byte
	// heartbleed acknowledges the heartbeat extension and answers a
	// heartbeat request with as many bytes as it claims (zeros: the
	// fixture has no memory worth leaking).
	heartbleed bool

	ln net.Listener
	wg sync.WaitGroup
}

// startRaw serves r on a loopback port until the test ends.
func startRaw(t testing.TB, r *rawServer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.ln = ln
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				r.serve(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); r.wg.Wait() })
	return ln.Addr().String()
}

func (r *rawServer) serve(c net.Conn) {
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(c, hdr); err != nil {
		return
	}
	if hdr[0]&0x80 != 0 { // SSL 2.0 CLIENT-HELLO
		n := int(hdr[0]&0x7f)<<8 | int(hdr[1])
		body := make([]byte, n)
		if _, err := io.ReadFull(c, body); err != nil || r.version != versionSSL20 {
			return
		}
		c.Write(r.sslv2ServerHello())
		return
	}
	rest := make([]byte, 3)
	if _, err := io.ReadFull(c, rest); err != nil || hdr[0] != recordHandshake {
		return
	}
	body := make([]byte, binary.BigEndian.Uint16(rest[1:]))
	if _, err := io.ReadFull(c, body); err != nil || len(body) < 4 || body[0] != 1 {
		return
	}
	ch, ok := parseClientHello(body[4:])
	if !ok {
		return
	}
	alert := func(desc byte) { c.Write([]byte{recordAlert, 3, 1, 0, 2, 2, desc}) }
	if r.version == versionSSL20 || ch.version < r.version || ch.tls13 {
		alert(alertProtocolVersion)
		return
	}
	suite, ok := r.choose(ch.suites)
	if !ok {
		alert(alertHandshakeFailure)
		return
	}
	// ServerHello, Certificate, ServerHelloDone.
	sh := binary.BigEndian.AppendUint16(nil, r.version)
	random := make([]byte, 32)
	rand.Read(random)
	sh = append(sh, random...)
	sid := make([]byte, 32)
	rand.Read(sid)
	sh = append(sh, 32)
	sh = append(sh, sid...)
	sh = binary.BigEndian.AppendUint16(sh, suite)
	sh = append(sh, 0)
	var ext []byte
	if ch.renegotiation {
		ext = append(ext, 0xff, 0x01, 0, 1, 0)
	}
	if r.heartbleed && ch.heartbeat {
		ext = append(ext, 0, byte(extHeartbeat), 0, 1, 1)
	}
	if len(ext) > 0 {
		sh = binary.BigEndian.AppendUint16(sh, uint16(len(ext)))
		sh = append(sh, ext...)
	}
	var certs []byte
	for _, der := range r.chain {
		certs = append(certs, byte(len(der)>>16), byte(len(der)>>8), byte(len(der)))
		certs = append(certs, der...)
	}
	cert := append([]byte{byte(len(certs) >> 16), byte(len(certs) >> 8), byte(len(certs))}, certs...)
	var hs []byte
	hs = append(hs, handshakeMsg(msgServerHello, sh)...)
	hs = append(hs, handshakeMsg(msgCertificate, cert)...)
	hs = append(hs, handshakeMsg(msgServerHelloDone, nil)...)
	c.Write(record(recordHandshake, r.version, hs))
	if !r.heartbleed {
		return
	}
	// A heartbeat request: answer with the length it claims.
	h := make([]byte, 5)
	if _, err := io.ReadFull(c, h); err != nil || h[0] != recordHeartbeat {
		return
	}
	msg := make([]byte, binary.BigEndian.Uint16(h[3:]))
	if _, err := io.ReadFull(c, msg); err != nil || len(msg) < 3 || msg[0] != 1 {
		return
	}
	claimed := int(binary.BigEndian.Uint16(msg[1:3]))
	resp := append([]byte{2, msg[1], msg[2]}, make([]byte, claimed+16)...)
	c.Write(record(recordHeartbeat, r.version, resp))
}

// choose picks the suite to answer offered with.
func (r *rawServer) choose(offered []uint16) (uint16, bool) {
	if r.accept == nil {
		return r.suite, slices.Contains(offered, r.suite)
	}
	if r.ownOrder {
		for _, id := range r.accept {
			if slices.Contains(offered, id) {
				return id, true
			}
		}
		return 0, false
	}
	for _, id := range offered {
		if slices.Contains(r.accept, id) {
			return id, true
		}
	}
	return 0, false
}

func (r *rawServer) sslv2ServerHello() []byte {
	cert := r.chain[0]
	specs := []byte{0x07, 0x00, 0xC0, 0x01, 0x00, 0x80}
	connID := make([]byte, 16)
	rand.Read(connID)
	b := []byte{4, 0, 1, 0x00, 0x02}
	b = binary.BigEndian.AppendUint16(b, uint16(len(cert)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(specs)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(connID)))
	b = append(b, cert...)
	b = append(b, specs...)
	b = append(b, connID...)
	return append([]byte{0x80 | byte(len(b)>>8), byte(len(b))}, b...)
}

func handshakeMsg(typ byte, body []byte) []byte {
	return append([]byte{typ, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
}

func record(typ byte, version uint16, body []byte) []byte {
	b := []byte{typ, byte(version >> 8), byte(version)}
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

type clientHello struct {
	version       uint16
	suites        []uint16
	tls13         bool // supported_versions offers 1.3 only
	renegotiation bool
	heartbeat     bool
}

// parseClientHello reads what rawServer needs from a ClientHello body.
func parseClientHello(b []byte) (*clientHello, bool) {
	r := reader(b)
	var ch clientHello
	var ok bool
	if ch.version, ok = r.u16(); !ok {
		return nil, false
	}
	if _, ok = r.bytes(32); !ok {
		return nil, false
	}
	if _, ok = r.vec8(); !ok {
		return nil, false
	}
	suites, ok := r.vec16()
	if !ok {
		return nil, false
	}
	for sr := reader(suites); len(sr) >= 2; {
		id, _ := sr.u16()
		ch.suites = append(ch.suites, id)
		if id == scsvRenegotiation {
			ch.renegotiation = true
		}
	}
	if _, ok = r.vec8(); !ok {
		return nil, false
	}
	exts, _ := r.vec16()
	for er := reader(exts); len(er) >= 4; {
		typ, _ := er.u16()
		data, ok := er.vec16()
		if !ok {
			return nil, false
		}
		switch typ {
		case extRenegotiation:
			ch.renegotiation = true
		case extHeartbeat:
			ch.heartbeat = true
		case extSupportedVersion:
			ch.tls13 = len(data) >= 3 && data[1] == 3 && data[2] == 4
		}
	}
	return &ch, true
}
