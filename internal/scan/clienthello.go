package scan

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/rand"
	"encoding/binary"
	"net"
)

// hello describes one hand-built ClientHello. The scanner writes its own
// ClientHellos because crypto/tls cannot offer SSL 3.0, SSL 2.0, most weak
// suites, compression or heartbeats, and hides what the server answered.
type hello struct {
	// version is the highest version offered: legacy_version for TLS 1.2
	// and older; TLS 1.3 is offered with supported_versions.
	version uint16
	suites  []uint16
	// serverName is sent as SNI unless empty or an IP address.
	serverName string
	groups     []uint16 // supported_groups; nil = all of groupTable
	// keyShares are the groups to send TLS 1.3 key shares for; nil sends
	// an empty list, which makes a TLS 1.3 server answer with a
	// HelloRetryRequest naming its choice.
	keyShares   []uint16
	alpn        []string
	sessionID   []byte
	compression bool // offer DEFLATE as well as null
	heartbeat   bool // offer the heartbeat extension (RFC 6520)
	fallback    bool // add TLS_FALLBACK_SCSV (RFC 7507)
	noExt       bool // no extensions at all (SSL 3.0)
}

// signatureSchemes offered: every scheme in use, SHA-1 and PKCS#1 v1.5
// included, so that no server refuses for want of one.
var signatureSchemes = []uint16{
	0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0804, 0x0805, 0x0806,
	0x0809, 0x080a, 0x080b, 0x0401, 0x0501, 0x0601, 0x0303, 0x0301,
	0x0302, 0x0402, 0x0502, 0x0602, 0x0203, 0x0201, 0x0202,
}

// keyShares holds one throwaway key per group the scanner sends shares
// for. The private keys are never used: the scanner stops at ServerHello.
type keyShares struct {
	x25519, p256, p384 []byte
	mlkem              []byte // X25519MLKEM768: ML-KEM-768 encapsulation key || X25519
}

func newKeyShares() (*keyShares, error) {
	var ks keyShares
	for _, c := range []struct {
		curve ecdh.Curve
		out   *[]byte
	}{{ecdh.X25519(), &ks.x25519}, {ecdh.P256(), &ks.p256}, {ecdh.P384(), &ks.p384}} {
		k, err := c.curve.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		*c.out = k.PublicKey().Bytes()
	}
	dk, err := mlkem.GenerateKey768()
	if err != nil {
		return nil, err
	}
	ks.mlkem = append(dk.EncapsulationKey().Bytes(), ks.x25519...)
	return &ks, nil
}

func (ks *keyShares) share(group uint16) []byte {
	switch group {
	case 0x001D:
		return ks.x25519
	case 0x0017:
		return ks.p256
	case 0x0018:
		return ks.p384
	case 0x11EC:
		return ks.mlkem
	}
	return nil
}

// marshal returns the ClientHello as TLS records.
func (h *hello) marshal(ks *keyShares) []byte {
	b := make([]byte, 0, 1024)
	legacy := h.version
	if legacy > versionTLS12 {
		legacy = versionTLS12
	}
	b = binary.BigEndian.AppendUint16(b, legacy)
	random := make([]byte, 32)
	rand.Read(random)
	b = append(b, random...)
	b = append(b, byte(len(h.sessionID)))
	b = append(b, h.sessionID...)

	suites := append([]uint16(nil), h.suites...)
	if h.noExt {
		// Signal secure renegotiation without extensions (RFC 5746).
		suites = append(suites, scsvRenegotiation)
	}
	if h.fallback {
		suites = append(suites, scsvFallback)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(2*len(suites)))
	for _, s := range suites {
		b = binary.BigEndian.AppendUint16(b, s)
	}
	if h.compression {
		b = append(b, 2, 1, 0) // DEFLATE, null
	} else {
		b = append(b, 1, 0)
	}

	if !h.noExt {
		ext := h.extensions(ks)
		// Some servers choke on ClientHellos of 256 to 511 bytes (RFC 7685):
		// pad past them.
		if l := 4 + len(b) + 2 + len(ext); l >= 256 && l < 512 {
			pad := 512 - l - 4
			if pad < 1 {
				pad = 1
			}
			ext = binary.BigEndian.AppendUint16(ext, extPadding)
			ext = binary.BigEndian.AppendUint16(ext, uint16(pad))
			ext = append(ext, make([]byte, pad)...)
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(ext)))
		b = append(b, ext...)
	}

	msg := append([]byte{1, byte(len(b) >> 16), byte(len(b) >> 8), byte(len(b))}, b...)
	recVersion := versionTLS10
	if h.version == versionSSL30 {
		recVersion = versionSSL30
	}
	var out []byte
	for len(msg) > 0 {
		n := min(len(msg), 1<<14)
		out = append(out, recordHandshake)
		out = binary.BigEndian.AppendUint16(out, recVersion)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
		out = append(out, msg[:n]...)
		msg = msg[n:]
	}
	return out
}

func (h *hello) extensions(ks *keyShares) []byte {
	var e []byte
	add := func(typ uint16, data []byte) {
		e = binary.BigEndian.AppendUint16(e, typ)
		e = binary.BigEndian.AppendUint16(e, uint16(len(data)))
		e = append(e, data...)
	}
	if h.serverName != "" && net.ParseIP(h.serverName) == nil {
		n := []byte(h.serverName)
		d := binary.BigEndian.AppendUint16(nil, uint16(len(n)+3))
		d = append(d, 0)
		d = binary.BigEndian.AppendUint16(d, uint16(len(n)))
		add(extServerName, append(d, n...))
	}
	groups := h.groups
	if groups == nil {
		groups = groupIDs(h.version < versionTLS13)
	}
	add(extSupportedGroups, list16(groups))
	add(extECPointFormats, []byte{1, 0})
	if h.version >= versionTLS12 {
		add(extSignatureAlgs, list16(signatureSchemes))
	}
	add(extStatusRequest, []byte{1, 0, 0, 0, 0})
	add(extSCT, nil)
	add(extSessionTicket, nil)
	add(extExtendedMaster, nil)
	add(extRenegotiation, []byte{0})
	if len(h.alpn) > 0 {
		var l []byte
		for _, p := range h.alpn {
			l = append(l, byte(len(p)))
			l = append(l, p...)
		}
		add(extALPN, append(binary.BigEndian.AppendUint16(nil, uint16(len(l))), l...))
	}
	if h.heartbeat {
		add(extHeartbeat, []byte{1}) // peer_allowed_to_send
	}
	if h.version >= versionTLS13 {
		add(extSupportedVersion, []byte{2, 0x03, 0x04})
		add(extPSKModes, []byte{1, 1})
		var shares []byte
		for _, g := range h.keyShares {
			k := ks.share(g)
			if k == nil {
				continue
			}
			shares = binary.BigEndian.AppendUint16(shares, g)
			shares = binary.BigEndian.AppendUint16(shares, uint16(len(k)))
			shares = append(shares, k...)
		}
		add(extKeyShare, append(binary.BigEndian.AppendUint16(nil, uint16(len(shares))), shares...))
	}
	return e
}

func list16(v []uint16) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(2*len(v)))
	for _, x := range v {
		b = binary.BigEndian.AppendUint16(b, x)
	}
	return b
}

// sslv2Hello returns an SSL 2.0 CLIENT-HELLO offering every SSL 2.0 cipher.
func sslv2Hello() []byte {
	var body []byte
	body = append(body, 1)          // CLIENT-HELLO
	body = append(body, 0x00, 0x02) // version 2.0
	body = binary.BigEndian.AppendUint16(body, uint16(3*len(sslv2Specs)))
	body = append(body, 0, 0) // session ID length
	body = append(body, 0, 16)
	for _, s := range sslv2Specs {
		body = append(body, s[:]...)
	}
	challenge := make([]byte, 16)
	rand.Read(challenge)
	body = append(body, challenge...)
	return append([]byte{0x80 | byte(len(body)>>8), byte(len(body))}, body...)
}

// heartbeatRequest is a heartbeat request record claiming a 16 KiB payload
// while carrying none: a server with the Heartbleed bug answers with 16
// KiB of its memory, a fixed one discards it (RFC 6520, section 4).
func heartbeatRequest(version uint16) []byte {
	return []byte{recordHeartbeat, byte(version >> 8), byte(version), 0, 3, 1, 0x40, 0x00}
}
