package scan

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"strings"

	"github.com/quic-go/quic-go"
)

// HTTP3 is what a server says and does about HTTP/3 (RFC 9114): the
// Alt-Svc header of GET / over TLS (RFC 7838) and a QUIC handshake with
// ALPN "h3" to the UDP port it names.
type HTTP3 struct {
	AltSvc    string `json:"alt_svc"`           // the header as sent
	Port      int    `json:"port"`              // the advertised UDP port
	Handshake bool   `json:"handshake"`         // a QUIC handshake with h3 completed
	Version   string `json:"version,omitempty"` // TLS version of that handshake
	Error     string `json:"error,omitempty"`   // why the handshake failed
}

// altSvcH3Port returns the port of the first h3 alternative of an
// Alt-Svc value ("h3=\":443\"; ma=86400, h3-29=..."), and whether there
// is one on the same host (an alternative on another host is not this
// server's).
func altSvcH3Port(v string) (int, bool) {
	for _, alt := range strings.Split(v, ",") {
		proto, rest, ok := strings.Cut(strings.TrimSpace(alt), "=")
		if !ok || proto != "h3" {
			continue
		}
		authority, _, _ := strings.Cut(rest, ";")
		authority = strings.Trim(strings.TrimSpace(authority), `"`)
		host, port, err := net.SplitHostPort(authority)
		if err != nil || host != "" {
			continue
		}
		if n, err := strconv.Atoi(port); err == nil && n > 0 && n < 65536 {
			return n, true
		}
	}
	return 0, false
}

// http3Probe makes one QUIC handshake to the port an Alt-Svc header
// advertises, on the target's address. It dials UDP itself
// (Options.Dial is for streams), within the politeness bound.
func (s *scanner) http3Probe(ctx context.Context, altSvc string) *HTTP3 {
	port, ok := altSvcH3Port(altSvc)
	if !ok {
		return nil
	}
	h := &HTTP3{AltSvc: altSvc, Port: port}
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	case <-ctx.Done():
		h.Error = ctx.Err().Error()
		return h
	}
	ip, _, _ := net.SplitHostPort(s.addr)
	dctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	cfg := &tls.Config{
		ServerName:         s.host,
		InsecureSkipVerify: true, // the chain is judged once, over TCP (cert.go)
		MinVersion:         tls.VersionTLS13,
		NextProtos:         []string{"h3"},
	}
	s.conns.Add(1)
	conn, err := quic.DialAddr(dctx, net.JoinHostPort(ip, strconv.Itoa(port)), cfg, &quic.Config{HandshakeIdleTimeout: s.opts.Timeout})
	if err != nil {
		h.Error = err.Error()
		return h
	}
	defer conn.CloseWithError(0, "")
	cs := conn.ConnectionState().TLS
	h.Handshake = cs.NegotiatedProtocol == "h3"
	h.Version = tls.VersionName(cs.Version)
	return h
}
