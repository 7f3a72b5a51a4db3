package scan

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// tlsInfo is what complete handshakes with crypto/tls showed.
type tlsInfo struct {
	state      *tls.ConnectionState
	httpStatus int
	hsts       string // Strict-Transport-Security, "" when absent
	hstsSeen   bool
	httpErr    error
	alpn       string // chosen from h2, http/1.1
	resumed    bool
	altSvc     string // Alt-Svc of GET /, "" when absent
	http3      *HTTP3 // nil unless Alt-Svc offers h3
}

func (s *scanner) tlsConfig() *tls.Config {
	return &tls.Config{
		ServerName: s.host,
		// The scanner judges the chain itself (cert.go): it must see it
		// even when it is broken.
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS10,
		// The certificate probe must connect to weak servers too.
		CipherSuites: GoSuites(),
	}
}

// tlsHandshake connects with crypto/tls. sniff, when set, receives the
// first bytes the server sent (the ServerHello in the clear).
func (s *scanner) tlsHandshake(ctx context.Context, cfg *tls.Config, sniff *sniffer) (*tls.Conn, func(), error) {
	c, release, err := s.dial(ctx)
	if err != nil {
		return nil, nil, err
	}
	var raw net.Conn = c
	if sniff != nil {
		sniff.Conn = c
		raw = sniff
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		release()
		return nil, nil, err
	}
	return tc, release, nil
}

// tlsProbe makes a full handshake to read the certificate chain, OCSP
// staple and SCTs, asks GET / for the HSTS header, then resumes the session
// (tickets or TLS 1.3 PSK) on a second connection that also offers h2.
func (s *scanner) tlsProbe(ctx context.Context) *tlsInfo {
	cache := tls.NewLRUClientSessionCache(4)
	cfg := s.tlsConfig()
	cfg.ClientSessionCache = cache
	cfg.NextProtos = []string{"http/1.1"}
	tc, release, err := s.tlsHandshake(ctx, cfg, nil)
	if err != nil {
		s.probeError("TLS handshake (crypto/tls)", err)
		return nil
	}
	st := tc.ConnectionState()
	info := &tlsInfo{state: &st}
	info.httpStatus, info.hsts, info.hstsSeen, info.altSvc, info.httpErr = s.getRoot(tc)
	release()

	cfg2 := s.tlsConfig()
	cfg2.ClientSessionCache = cache
	cfg2.NextProtos = []string{"h2", "http/1.1"}
	tc2, release2, err := s.tlsHandshake(ctx, cfg2, nil)
	if err != nil {
		s.probeError("TLS resumption", err)
		return info
	}
	st2 := tc2.ConnectionState()
	info.resumed = st2.DidResume
	info.alpn = st2.NegotiatedProtocol
	release2()
	return info
}

// getRoot sends GET / on an established connection and returns the status
// and Strict-Transport-Security header. Reading the answer also takes in
// TLS 1.3 session tickets.
func (s *scanner) getRoot(c net.Conn) (status int, hsts string, seen bool, altSvc string, err error) {
	c.SetDeadline(time.Now().Add(min(s.opts.Timeout, 3*time.Second)))
	host := s.host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if s.port != 443 {
		host += ":" + strconv.Itoa(s.port)
	}
	req := "GET / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: tlsgate-scan\r\nAccept: */*\r\nConnection: close\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		return 0, "", false, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(io.LimitReader(c, 1<<20)), nil)
	if err != nil {
		return 0, "", false, "", fmt.Errorf("GET / over TLS: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	v, seen := resp.Header["Strict-Transport-Security"]
	if seen && len(v) > 0 {
		hsts = v[0]
	}
	return resp.StatusCode, hsts, seen, resp.Header.Get("Alt-Svc"), nil
}

// sniffer keeps the first bytes read from a connection.
type sniffer struct {
	net.Conn
	mu  sync.Mutex
	buf []byte
}

func (s *sniffer) Read(p []byte) (int, error) {
	n, err := s.Conn.Read(p)
	s.mu.Lock()
	if len(s.buf) < 64<<10 {
		s.buf = append(s.buf, p[:n]...)
	}
	s.mu.Unlock()
	return n, err
}

// fullHandshakeSessionID completes a TLS 1.2 handshake without tickets and
// returns the session ID the server assigned.
func (s *scanner) fullHandshakeSessionID(ctx context.Context) []byte {
	cfg := s.tlsConfig()
	cfg.MaxVersion = tls.VersionTLS12
	cfg.SessionTicketsDisabled = true
	sn := &sniffer{}
	_, release, err := s.tlsHandshake(ctx, cfg, sn)
	if err != nil {
		return nil
	}
	release()
	sn.mu.Lock()
	defer sn.mu.Unlock()
	resp, _, err := parseResponse(sn.buf)
	if err != nil || resp == nil || resp.Hello == nil {
		return nil
	}
	return resp.Hello.SessionID
}

// redirectProbe asks the plain-HTTP port for / and reports whether it
// redirects to https.
func (s *scanner) redirectProbe(ctx context.Context) *Redirect {
	rd := &Redirect{Port: s.opts.HTTPPort}
	host, _, _ := net.SplitHostPort(s.addr)
	addr := net.JoinHostPort(host, strconv.Itoa(s.opts.HTTPPort))
	dctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	case <-ctx.Done():
		return rd
	}
	c, err := s.opts.Dial(dctx, "tcp", addr)
	if err != nil {
		return rd
	}
	s.conns.Add(1)
	defer c.Close()
	rd.Listens = true
	c.SetDeadline(time.Now().Add(min(s.opts.Timeout, 3*time.Second)))
	hostHdr := s.host
	if s.opts.HTTPPort != 80 {
		hostHdr = net.JoinHostPort(s.host, strconv.Itoa(s.opts.HTTPPort))
	}
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+hostHdr+"\r\nUser-Agent: tlsgate-scan\r\nConnection: close\r\n\r\n"); err != nil {
		return rd
	}
	resp, err := http.ReadResponse(bufio.NewReader(io.LimitReader(c, 1<<20)), nil)
	if err != nil {
		return rd
	}
	resp.Body.Close()
	rd.Status = resp.StatusCode
	rd.Location = resp.Header.Get("Location")
	rd.ToHTTPS = resp.StatusCode >= 300 && resp.StatusCode < 400 && strings.HasPrefix(strings.ToLower(rd.Location), "https://")
	return rd
}

func readFull(c net.Conn, b []byte) (int, error) { return io.ReadFull(c, b) }
