package scan

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// Record content types and handshake message types (RFC 8446, RFC 5246,
// RFC 6520).
const (
	recordChangeCipherSpec = 20
	recordAlert            = 21
	recordHandshake        = 22
	recordHeartbeat        = 24

	msgServerHello       = 2
	msgCertificate       = 11
	msgServerKeyExchange = 12
	msgServerHelloDone   = 14
)

// Extension numbers the scanner sends or reads.
const (
	extServerName       uint16 = 0x0000
	extStatusRequest    uint16 = 0x0005
	extSupportedGroups  uint16 = 0x000A
	extECPointFormats   uint16 = 0x000B
	extSignatureAlgs    uint16 = 0x000D
	extHeartbeat        uint16 = 0x000F
	extALPN             uint16 = 0x0010
	extSCT              uint16 = 0x0012
	extPadding          uint16 = 0x0015
	extExtendedMaster   uint16 = 0x0017
	extSessionTicket    uint16 = 0x0023
	extSupportedVersion uint16 = 0x002B
	extPSKModes         uint16 = 0x002D
	extKeyShare         uint16 = 0x0033
	extRenegotiation    uint16 = 0xFF01
)

// Alert descriptions the scanner interprets.
const (
	alertHandshakeFailure      = 40
	alertProtocolVersion       = 70
	alertInappropriateFallback = 86
)

// helloRetryRandom is the ServerHello.random that marks a
// HelloRetryRequest (RFC 8446, section 4.1.3).
var helloRetryRandom = sha256.Sum256([]byte("HelloRetryRequest"))

// errNotTLS says the peer answered with something that is not TLS.
var errNotTLS = errors.New("the server's answer is not TLS")

// serverHello is a parsed ServerHello (or HelloRetryRequest).
type serverHello struct {
	Version     uint16 // legacy_version
	Random      []byte
	SessionID   []byte
	Suite       uint16
	Compression uint8
	Extensions  map[uint16][]byte
	Retry       bool // a HelloRetryRequest
}

// selectedVersion is the negotiated version: supported_versions when
// present (TLS 1.3), legacy_version otherwise.
func (h *serverHello) selectedVersion() uint16 {
	if d, ok := h.Extensions[extSupportedVersion]; ok && len(d) == 2 {
		return binary.BigEndian.Uint16(d)
	}
	return h.Version
}

// keyShareGroup is the group of a ServerHello's or HRR's key_share, or 0.
func (h *serverHello) keyShareGroup() uint16 {
	if d, ok := h.Extensions[extKeyShare]; ok && len(d) >= 2 {
		return binary.BigEndian.Uint16(d)
	}
	return 0
}

// alpn returns the protocol selected by ALPN in a TLS 1.2 ServerHello.
func (h *serverHello) alpn() string {
	d, ok := h.Extensions[extALPN]
	if !ok || len(d) < 3 {
		return ""
	}
	n := int(d[2])
	if len(d) < 3+n {
		return ""
	}
	return string(d[3 : 3+n])
}

// parseServerHello parses a ServerHello handshake body (without the
// 4-byte message header).
func parseServerHello(b []byte) (*serverHello, error) {
	r := reader(b)
	var h serverHello
	var ok bool
	if h.Version, ok = r.u16(); !ok {
		return nil, errShort("ServerHello version")
	}
	if h.Random, ok = r.bytes(32); !ok {
		return nil, errShort("ServerHello random")
	}
	h.Retry = bytes.Equal(h.Random, helloRetryRandom[:])
	if h.SessionID, ok = r.vec8(); !ok || len(h.SessionID) > 32 {
		return nil, errShort("ServerHello session ID")
	}
	if h.Suite, ok = r.u16(); !ok {
		return nil, errShort("ServerHello cipher suite")
	}
	if h.Compression, ok = r.u8(); !ok {
		return nil, errShort("ServerHello compression")
	}
	h.Extensions = map[uint16][]byte{}
	if len(r) == 0 {
		return &h, nil
	}
	exts, ok := r.vec16()
	if !ok {
		return nil, errShort("ServerHello extensions")
	}
	er := reader(exts)
	for len(er) > 0 {
		typ, ok1 := er.u16()
		data, ok2 := er.vec16()
		if !ok1 || !ok2 {
			return nil, errShort("ServerHello extension")
		}
		if _, dup := h.Extensions[typ]; dup {
			return nil, fmt.Errorf("ServerHello repeats extension %d", typ)
		}
		h.Extensions[typ] = data
	}
	return &h, nil
}

// parseCertificateList parses a TLS 1.2 (and SSL 3.0) Certificate message
// body into DER certificates.
func parseCertificateList(b []byte) ([][]byte, error) {
	r := reader(b)
	list, ok := r.vec24()
	if !ok {
		return nil, errShort("Certificate list")
	}
	var certs [][]byte
	lr := reader(list)
	for len(lr) > 0 {
		c, ok := lr.vec24()
		if !ok || len(c) == 0 {
			return nil, errShort("Certificate entry")
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// keyExchangeParams reads what the rating needs from a TLS 1.2
// ServerKeyExchange: the named curve of ECDHE, or the prime size in bits
// of DHE.
func keyExchangeParams(kx string, b []byte) (curve uint16, dhBits int, err error) {
	r := reader(b)
	switch kx {
	case "ECDHE", "ECDH_anon":
		t, ok1 := r.u8()
		c, ok2 := r.u16()
		if !ok1 || !ok2 || t != 3 {
			return 0, 0, errShort("ServerKeyExchange curve")
		}
		return c, 0, nil
	case "DHE", "DH_anon":
		p, ok := r.vec16()
		if !ok {
			return 0, 0, errShort("ServerKeyExchange prime")
		}
		for len(p) > 0 && p[0] == 0 {
			p = p[1:]
		}
		bits := len(p) * 8
		if len(p) > 0 {
			for top := p[0]; top&0x80 == 0; top <<= 1 {
				bits--
			}
		}
		return 0, bits, nil
	}
	return 0, 0, nil
}

// serverResponse is what a server said to one ClientHello, up to
// ServerHelloDone (TLS 1.2 and older), the ServerHello (TLS 1.3), an
// alert, or the end of the connection.
type serverResponse struct {
	Hello     *serverHello
	Certs     [][]byte // TLS 1.2 and older: the chain sent
	KeyExch   []byte   // TLS 1.2 and older: the ServerKeyExchange body
	Done      bool     // ServerHelloDone seen
	Resumed   bool     // ChangeCipherSpec right after ServerHello: a resumed session
	Alert     int      // alert description, -1 when none
	AlertSeen bool
	SSLv2     bool // an SSL 2.0 SERVER-HELLO
	SSLv2Spec [][3]byte
}

// maxResponse bounds what the scanner reads from a server for one
// ClientHello: a ServerHello, a long certificate chain and a key exchange
// fit in well under this.
const maxResponse = 256 << 10

// parseResponse parses the bytes a server sent in answer to a ClientHello.
// complete reports whether they end a response (a message the scanner
// stops at, or an alert); when false, more bytes may follow. It never
// looks further than the first fatal problem.
func parseResponse(data []byte) (resp *serverResponse, complete bool, err error) {
	resp = &serverResponse{Alert: -1}
	if len(data) == 0 {
		return resp, false, nil
	}
	if data[0]&0x80 != 0 {
		return parseSSLv2(data)
	}
	var hs []byte // handshake bytes, reassembled across records
	for len(data) > 0 {
		if len(data) < 5 {
			return resp, false, nil
		}
		typ, major := data[0], data[1]
		n := int(binary.BigEndian.Uint16(data[3:5]))
		if (typ < 20 || typ > 24) || major != 3 {
			return nil, true, errNotTLS
		}
		if n > 1<<14+2048 {
			return nil, true, fmt.Errorf("record of %d bytes is longer than TLS allows", n)
		}
		if len(data) < 5+n {
			return resp, false, nil
		}
		body := data[5 : 5+n]
		data = data[5+n:]
		switch typ {
		case recordAlert:
			if len(body) < 2 {
				return nil, true, errShort("alert")
			}
			resp.AlertSeen, resp.Alert = true, int(body[1])
			return resp, true, nil
		case recordHandshake:
			hs = append(hs, body...)
		case recordChangeCipherSpec:
			if resp.Hello != nil && resp.Hello.selectedVersion() <= versionTLS12 {
				// An abbreviated handshake: the server resumed a session.
				resp.Resumed = true
				return resp, true, nil
			}
			continue // TLS 1.3 middlebox compatibility
		default:
			continue
		}
		for len(hs) >= 4 {
			mlen := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
			if len(hs) < 4+mlen {
				break
			}
			mtype, body := hs[0], hs[4:4+mlen]
			hs = hs[4+mlen:]
			switch mtype {
			case msgServerHello:
				h, err := parseServerHello(body)
				if err != nil {
					return nil, true, err
				}
				resp.Hello = h
				if h.Retry || h.selectedVersion() == versionTLS13 {
					// The rest is encrypted (or a new ClientHello is due).
					return resp, true, nil
				}
			case msgCertificate:
				if resp.Hello == nil {
					return nil, true, fmt.Errorf("certificate before ServerHello")
				}
				certs, err := parseCertificateList(body)
				if err != nil {
					return nil, true, err
				}
				resp.Certs = certs
			case msgServerKeyExchange:
				resp.KeyExch = body
			case msgServerHelloDone:
				resp.Done = true
				return resp, true, nil
			}
			if resp.Hello == nil {
				return nil, true, fmt.Errorf("handshake message %d before ServerHello", mtype)
			}
		}
	}
	return resp, false, nil
}

// parseSSLv2 parses an SSL 2.0 SERVER-HELLO (2-byte record header).
func parseSSLv2(data []byte) (*serverResponse, bool, error) {
	if len(data) < 2 {
		return &serverResponse{Alert: -1}, false, nil
	}
	n := int(data[0]&0x7f)<<8 | int(data[1])
	if len(data) < 2+n {
		return &serverResponse{Alert: -1}, false, nil
	}
	r := reader(data[2 : 2+n])
	typ, _ := r.u8()
	if typ != 4 { // SERVER-HELLO
		return nil, true, errNotTLS
	}
	var hdr []byte
	var ok bool
	if hdr, ok = r.bytes(10); !ok { // session-id-hit, cert type, version, cert len, specs len, conn id len
		return nil, true, errShort("SSLv2 SERVER-HELLO")
	}
	version := binary.BigEndian.Uint16(hdr[2:4])
	certLen := int(binary.BigEndian.Uint16(hdr[4:6]))
	specLen := int(binary.BigEndian.Uint16(hdr[6:8]))
	if version != versionSSL20 {
		return nil, true, errNotTLS
	}
	cert, ok := r.bytes(certLen)
	if !ok {
		return nil, true, errShort("SSLv2 certificate")
	}
	specs, ok := r.bytes(specLen)
	if !ok || specLen%3 != 0 {
		return nil, true, errShort("SSLv2 cipher specs")
	}
	resp := &serverResponse{Alert: -1, SSLv2: true}
	if hdr[1] == 1 && certLen > 0 { // SSL_CT_X509_CERTIFICATE
		resp.Certs = [][]byte{cert}
	}
	for i := 0; i < len(specs); i += 3 {
		resp.SSLv2Spec = append(resp.SSLv2Spec, [3]byte{specs[i], specs[i+1], specs[i+2]})
	}
	return resp, true, nil
}

func errShort(what string) error { return fmt.Errorf("malformed %s", what) }

// reader consumes big-endian fields; every method reports whether the
// input was long enough and leaves the reader untouched when it was not.
type reader []byte

func (r *reader) u8() (uint8, bool) {
	if len(*r) < 1 {
		return 0, false
	}
	v := (*r)[0]
	*r = (*r)[1:]
	return v, true
}

func (r *reader) u16() (uint16, bool) {
	if len(*r) < 2 {
		return 0, false
	}
	v := binary.BigEndian.Uint16(*r)
	*r = (*r)[2:]
	return v, true
}

func (r *reader) bytes(n int) ([]byte, bool) {
	if n < 0 || len(*r) < n {
		return nil, false
	}
	v := (*r)[:n:n]
	*r = (*r)[n:]
	return v, true
}

func (r *reader) vec8() ([]byte, bool) {
	if len(*r) < 1 {
		return nil, false
	}
	n := int((*r)[0])
	if len(*r) < 1+n {
		return nil, false
	}
	v := (*r)[1 : 1+n : 1+n]
	*r = (*r)[1+n:]
	return v, true
}

func (r *reader) vec16() ([]byte, bool) {
	if len(*r) < 2 {
		return nil, false
	}
	n := int(binary.BigEndian.Uint16(*r))
	if len(*r) < 2+n {
		return nil, false
	}
	v := (*r)[2 : 2+n : 2+n]
	*r = (*r)[2+n:]
	return v, true
}

func (r *reader) vec24() ([]byte, bool) {
	if len(*r) < 3 {
		return nil, false
	}
	n := int((*r)[0])<<16 | int((*r)[1])<<8 | int((*r)[2])
	if len(*r) < 3+n {
		return nil, false
	}
	v := (*r)[3 : 3+n : 3+n]
	*r = (*r)[3+n:]
	return v, true
}
