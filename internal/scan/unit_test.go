package scan

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/pkitest"
	"github.com/tlsgate/tlsgate/internal/testpeer"
)

func TestParseTarget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		host string
		port int
		err  bool
	}{
		{"example.com", "example.com", 443, false},
		{"example.com:8443", "example.com", 8443, false},
		{"example.com.", "example.com", 443, false},
		{"https://example.com:9443/path?q", "example.com", 9443, false},
		{"https://example.com", "example.com", 443, false},
		{"[::1]:8443", "::1", 8443, false},
		{"::1", "::1", 443, false},
		{"127.0.0.1", "127.0.0.1", 443, false},
		{"http://example.com", "", 0, true},
		{"example.com:0", "", 0, true},
		{"example.com:https", "", 0, true},
		{":443", "", 0, true},
		{"", "", 0, true},
	} {
		host, port, err := ParseTarget(tc.in)
		if (err != nil) != tc.err || host != tc.host || port != tc.port {
			t.Errorf("ParseTarget(%q) = %q, %d, %v", tc.in, host, port, err)
		}
	}
}

func TestParseHSTS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		maxAge  int64
		sub, pl bool
	}{
		{"max-age=31536000; includeSubDomains; preload", 31536000, true, true},
		{`max-age="15552000"`, 15552000, false, false},
		{"MAX-AGE=10;INCLUDESUBDOMAINS", 10, true, false},
		{"max-age=-5", 0, false, false},
		{"includeSubDomains", 0, true, false},
		{"", 0, false, false},
	} {
		h := ParseHSTS(tc.in)
		if h.MaxAge != tc.maxAge || h.IncludeSubDomains != tc.sub || h.Preload != tc.pl {
			t.Errorf("ParseHSTS(%q) = %+v", tc.in, h)
		}
	}
}

// goodResult is an A+ result to vary in rating tests.
func goodResult() *Result {
	sr := func(id uint16) SuiteResult {
		s := LookupSuite(id)
		return SuiteResult{ID: "0x" + hex16(id), Name: s.Name, ForwardSecret: s.ForwardSecret(), AEAD: s.AEAD(), Weaknesses: s.Weaknesses()}
	}
	yes := true
	return &Result{
		ServerName: "scan.test",
		Protocols:  []Protocol{{"SSLv2", false}, {"SSLv3", false}, {"TLS 1.0", false}, {"TLS 1.1", false}, {"TLS 1.2", true}, {"TLS 1.3", true}},
		Ciphers: []CipherList{
			{Protocol: "TLS 1.3", Suites: []SuiteResult{sr(0x1301), sr(0x1302)}},
			{Protocol: "TLS 1.2", ServerOrder: true, Suites: []SuiteResult{sr(0xC02B), sr(0xC02C)}},
		},
		Groups:      []GroupResult{{ID: "0x001D", Name: "x25519"}},
		Certificate: &Certificate{KeyType: "ECDSA", KeyBits: 256, Trusted: true, NameMatch: true, ChainComplete: true, ChainInOrder: true},
		HTTP:        &HTTP{HSTS: &HSTS{MaxAge: 31536000}},
		Features:    Features{FallbackSCSV: "supported", SecureRenegotiation: &yes},
	}
}

func hex16(v uint16) string {
	const d = "0123456789ABCDEF"
	return string([]byte{d[v>>12], d[v>>8&15], d[v>>4&15], d[v&15]})
}

// TestRate checks the grading rules one at a time on a result that is A+
// without them (docs/grading.md).
func TestRate(t *testing.T) {
	t.Parallel()
	var addSuite func(r *Result, proto string, ids ...uint16)
	addSuite = func(r *Result, proto string, ids ...uint16) {
		for i := range r.Ciphers {
			if r.Ciphers[i].Protocol == proto {
				for _, id := range ids {
					s := LookupSuite(id)
					r.Ciphers[i].Suites = append(r.Ciphers[i].Suites, SuiteResult{ID: "0x" + hex16(id), Name: s.Name, ForwardSecret: s.ForwardSecret(), AEAD: s.AEAD(), Weaknesses: s.Weaknesses()})
				}
				return
			}
		}
		r.Ciphers = append(r.Ciphers, CipherList{Protocol: proto})
		for i := range r.Protocols {
			if r.Protocols[i].Name == proto {
				r.Protocols[i].Offered = true
			}
		}
		addSuite(r, proto, ids...)
	}
	for _, tc := range []struct {
		name   string
		change func(r *Result)
		letter string
		rule   string
	}{
		{"good", func(r *Result) {}, "A+", "a_plus"},
		{"no HSTS", func(r *Result) { r.HTTP.HSTS = nil }, "A-", "hsts_missing"},
		{"short HSTS", func(r *Result) { r.HTTP.HSTS.MaxAge = 179 * 86400 }, "A-", "hsts_short"},
		{"HSTS exactly 180 days", func(r *Result) { r.HTTP.HSTS.MaxAge = 180 * 86400 }, "A+", "a_plus"},
		{"no TLS 1.3", func(r *Result) { r.Protocols[5].Offered = false; r.Ciphers = r.Ciphers[1:] }, "A", "no_tls13"},
		{"no fallback SCSV", func(r *Result) { r.Features.FallbackSCSV = "not supported" }, "A", "no_fallback_scsv"},
		{"TLS 1.3 only needs no SCSV", func(r *Result) {
			r.Protocols[4].Offered = false
			r.Ciphers = r.Ciphers[:1]
			r.Features.FallbackSCSV = "n/a"
		}, "A+", "a_plus"},
		{"TLS 1.0", func(r *Result) { addSuite(r, "TLS 1.0", 0xC009) }, "B", "tls10_11"},
		{"SSLv3", func(r *Result) { addSuite(r, "SSLv3", 0x002F) }, "C", "sslv3"},
		{"SSLv2", func(r *Result) { r.Protocols[0].Offered = true }, "F", "sslv2"},
		{"only TLS 1.0", func(r *Result) {
			r.Protocols[4].Offered, r.Protocols[5].Offered = false, false
			r.Ciphers = nil
			addSuite(r, "TLS 1.0", 0xC013)
		}, "C", "no_tls12"},
		{"3DES preferred in TLS 1.2", func(r *Result) { r.Ciphers[1].Suites = nil; addSuite(r, "TLS 1.2", 0x000A, 0xC02B) }, "C", "block64"},
		{"RC4 with TLS 1.2", func(r *Result) { addSuite(r, "TLS 1.2", 0xC011) }, "C", "rc4_modern"},
		{"RC4 with TLS 1.0 only", func(r *Result) { addSuite(r, "TLS 1.0", 0x0005) }, "B", "rc4"},
		{"export", func(r *Result) { addSuite(r, "TLS 1.2", 0x0003) }, "F", "export"},
		{"NULL", func(r *Result) { addSuite(r, "TLS 1.2", 0x0002) }, "F", "null"},
		{"anonymous", func(r *Result) { addSuite(r, "TLS 1.2", 0x0034) }, "F", "anonymous"},
		{"static RSA preferred", func(r *Result) { r.Ciphers[1].Suites = nil; addSuite(r, "TLS 1.2", 0x009C, 0xC02B) }, "B", "no_forward_secrecy"},
		{"CBC only in TLS 1.2", func(r *Result) { r.Ciphers[1].Suites = nil; addSuite(r, "TLS 1.2", 0xC009, 0xC00A) }, "B", "no_aead"},
		{"client order: strongest suite wins", func(r *Result) { r.Ciphers[1].ServerOrder = false; addSuite(r, "TLS 1.2", 0x009C) }, "A+", "a_plus"},
		{"RSA 1024", func(r *Result) { r.Certificate.KeyType, r.Certificate.KeyBits = "RSA", 1024 }, "B", "weak_key"},
		{"DH 1024", func(r *Result) { addSuite(r, "TLS 1.2", 0x009E); r.Ciphers[1].Suites[2].KeyExchangeBits = 1024 }, "B", "weak_dh"},
		{"incomplete chain", func(r *Result) { r.Certificate.FetchedIssuer = true }, "B", "chain_incomplete"},
		{"compression", func(r *Result) { r.Features.Compression = true }, "B", "compression"},
		{"heartbleed", func(r *Result) { r.Features.Heartbleed = true }, "F", "heartbleed"},
		{"expired", func(r *Result) { r.Certificate.Expired = true }, "T", "untrusted"},
		{"untrusted", func(r *Result) { r.Certificate.Trusted = false; r.Certificate.TrustError = "unknown authority" }, "T", "untrusted"},
		{"SHA-1", func(r *Result) { r.Certificate.WeakSignature = true }, "T", "untrusted"},
		{"mismatch", func(r *Result) { r.Certificate.NameMatch = false }, "M", "name_mismatch"},
		{"untrusted and mismatch", func(r *Result) {
			r.Certificate.NameMatch, r.Certificate.SelfSigned = false, true
			r.Certificate.Trusted = false
		}, "T", "name_mismatch"},
		{"no certificate", func(r *Result) { r.Certificate = nil }, "T", "no_certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := goodResult()
			tc.change(r)
			g := Rate(r)
			var rules []string
			for _, c := range g.Caps {
				rules = append(rules, c.Rule)
			}
			if g.Letter != tc.letter || !slices.Contains(rules, tc.rule) {
				t.Fatalf("grade %s (score %d), caps %v; want %s with %s", g.Letter, g.Score, g.Caps, tc.letter, tc.rule)
			}
		})
	}
}

// TestScoreMatchesGuide checks the numbers of the guide's tables on a
// typical server: TLS 1.2+1.3 (100), ECDSA P-256 (90), AES-128 and
// AES-256 (90): 93, as testssl.sh and SSL Labs compute it.
func TestScoreMatchesGuide(t *testing.T) {
	t.Parallel()
	g := Rate(goodResult())
	if g.Protocol != 100 || g.KeyExchange != 90 || g.Cipher != 90 || g.Score != 93 {
		t.Fatalf("scores %d/%d/%d = %d, want 100/90/90 = 93", g.Protocol, g.KeyExchange, g.Cipher, g.Score)
	}
	r := goodResult()
	r.Protocols[2].Offered = true // TLS 1.0: (100+90)/2 = 95
	if g := Rate(r); g.Protocol != 95 || g.Score != 92 {
		t.Fatalf("with TLS 1.0: protocol %d, score %d; want 95, 92", g.Protocol, g.Score)
	}
}

// TestConnErrors checks the kinds of targets that cannot be scanned.
func TestConnErrors(t *testing.T) {
	t.Parallel()
	silent, _ := net.Listen("tcp", "127.0.0.1:0")
	t.Cleanup(func() { silent.Close() })
	go func() {
		var held []net.Conn
		for {
			c, err := silent.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	plain := startPlainText(t, "SSH-2.0-OpenSSH_9.2\r\n")
	refuse := startRaw(t, &rawServer{version: versionTLS12, suite: 0xFFFF, chain: [][]byte{{0}}})
	noDNS := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no DNS in tests")
	}}
	for _, tc := range []struct {
		name, target string
		opts         Options
		kind         ConnErrorKind
	}{
		{"refused", testpeer.ClosedAddr(t), Options{}, ErrRefused},
		{"silent", silent.Addr().String(), Options{Timeout: 300 * time.Millisecond}, ErrTimeout},
		{"not TLS", plain, Options{}, ErrNotTLS},
		{"every version refused", refuse, Options{}, ErrHandshake},
		{"DNS", "does-not-exist.test:443", Options{Resolver: noDNS}, ErrDNS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Scan(context.Background(), tc.target, tc.opts)
			var ce *ConnError
			if !errors.As(err, &ce) || ce.Kind != tc.kind {
				t.Fatalf("error %v, want a ConnError of kind %s", err, tc.kind)
			}
		})
	}
}

// startPlainText answers every connection with a fixed line, as an SSH
// or SMTP server does.
func startPlainText(t *testing.T, banner string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(banner))
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// TestInjectedDialerAndClock scans through Options.Dial, which must be
// the only way out and see no more than Options.Parallel connections at
// once, and judges the certificate by Options.Now.
func TestInjectedDialerAndClock(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "dial CA")
	cert := ca.Issue(t, pkitest.Leaf{Names: []string{"scan.test"}})
	addr := startGoTLS(t, &tls.Config{Certificates: []tls.Certificate{*cert}})
	var open, peak, total atomic.Int32
	var mu sync.Mutex
	dial := func(ctx context.Context, network, a string) (net.Conn, error) {
		if a != addr {
			t.Errorf("dialed %s, want only %s", a, addr)
		}
		n := open.Add(1)
		total.Add(1)
		mu.Lock()
		peak.Store(max(peak.Load(), n))
		mu.Unlock()
		var d net.Dialer
		c, err := d.DialContext(ctx, network, a)
		if err != nil {
			open.Add(-1)
			return nil, err
		}
		return &countedConn{Conn: c, open: &open}, nil
	}
	future := cert.Leaf.NotAfter.Add(48 * time.Hour)
	r, err := Scan(context.Background(), addr, Options{ServerName: "scan.test", Roots: ca.Pool(), Dial: dial, Parallel: 2,
		Now: func() time.Time { return future }})
	if err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p > 2 {
		t.Errorf("%d connections open at once, want at most 2", p)
	}
	if int(total.Load()) != r.Connections {
		t.Errorf("Result.Connections %d, dialer saw %d", r.Connections, total.Load())
	}
	if !r.Certificate.Expired || r.Grade.Letter != "T" || r.Certificate.DaysLeft > -1 {
		t.Errorf("with the clock 2 days after expiry: expired %v, days left %d, grade %s", r.Certificate.Expired, r.Certificate.DaysLeft, r.Grade.Letter)
	}
}

type countedConn struct {
	net.Conn
	open *atomic.Int32
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.open.Add(-1) })
	return c.Conn.Close()
}
