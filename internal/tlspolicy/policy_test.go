package tlspolicy_test

import (
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/pkitest"
	"github.com/tlsgate/tlsgate/internal/tlspolicy"
)

// testPKI is a CA with an ECDSA and an RSA certificate for example.com.
type testPKI struct {
	ca         *pkitest.CA
	ecdsa, rsa *tls.Certificate
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	ca := pkitest.NewCA(t, "Test CA")
	return &testPKI{
		ca:    ca,
		ecdsa: ca.Issue(t, pkitest.Leaf{Names: []string{"example.com"}}),
		rsa:   ca.Issue(t, pkitest.Leaf{Names: []string{"example.com"}, RSA: true}),
	}
}

// getCert serves the RSA certificate to clients that cannot take ECDSA.
func (p *testPKI) getCert(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello.SupportsCertificate(p.ecdsa) == nil {
		return p.ecdsa, nil
	}
	return p.rsa, nil
}

func (p *testPKI) client() *tls.Config {
	return &tls.Config{RootCAs: p.ca.Pool(), ServerName: "example.com"}
}

func (p *testPKI) server(t *testing.T, profile tlspolicy.Profile) *tls.Config {
	t.Helper()
	c, err := tlspolicy.Server(tlspolicy.Options{Profile: profile, GetCertificate: p.getCert})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// handshake runs one TLS connection over 127.0.0.1. The server writes one
// byte that the client reads, so a TLS 1.3 client also takes in the
// session tickets that follow the handshake.
func handshake(t *testing.T, srv, cli *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	serverDone := make(chan struct{})
	go func() {
		defer close(serverDone)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		tc := tls.Server(c, srv)
		if tc.Handshake() != nil {
			return
		}
		if _, err := tc.Write([]byte{'x'}); err != nil {
			return
		}
		io.Copy(io.Discard, tc) // until the client closes
	}()
	defer func() { <-serverDone }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	tc := tls.Client(c, cli)
	defer tc.Close()
	if err := tc.Handshake(); err != nil {
		return tls.ConnectionState{}, err
	}
	if _, err := io.ReadFull(tc, make([]byte, 1)); err != nil {
		return tls.ConnectionState{}, err
	}
	return tc.ConnectionState(), nil
}

var mozillaIntermediate = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

func TestServerConfig(t *testing.T) {
	t.Parallel()
	get := func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, nil }
	tests := []struct {
		profile    tlspolicy.Profile
		minVersion uint16
		suites     []uint16
	}{
		{tlspolicy.Intermediate, tls.VersionTLS12, mozillaIntermediate},
		{tlspolicy.Modern, tls.VersionTLS13, nil},
	}
	for _, tt := range tests {
		t.Run(string(tt.profile), func(t *testing.T) {
			t.Parallel()
			c, err := tlspolicy.Server(tlspolicy.Options{Profile: tt.profile, GetCertificate: get})
			if err != nil {
				t.Fatal(err)
			}
			if c.MinVersion != tt.minVersion || c.MaxVersion != tls.VersionTLS13 {
				t.Errorf("versions %x-%x, want %x-%x", c.MinVersion, c.MaxVersion, tt.minVersion, tls.VersionTLS13)
			}
			if !slices.Equal(c.CipherSuites, tt.suites) || (tt.suites == nil) != (c.CipherSuites == nil) {
				t.Errorf("CipherSuites = %v, want %v", names(c.CipherSuites), names(tt.suites))
			}
			if tt.profile.MinVersion() != tt.minVersion || !slices.Equal(tt.profile.CipherSuites(), tt.suites) {
				t.Error("Profile methods disagree with the config")
			}
			for _, id := range c.CipherSuites {
				n := tls.CipherSuiteName(id)
				if !strings.HasPrefix(n, "TLS_ECDHE_") || !(strings.Contains(n, "_GCM_") || strings.Contains(n, "CHACHA20_POLY1305")) {
					t.Errorf("suite %s is not ECDHE with an AEAD", n)
				}
			}
			if !slices.Equal(c.NextProtos, []string{"h2", "http/1.1"}) {
				t.Errorf("NextProtos = %q, want h2 then http/1.1", c.NextProtos)
			}
			if c.GetCertificate == nil || c.InsecureSkipVerify || len(c.Certificates) != 0 {
				t.Error("config does not take its certificate from GetCertificate")
			}
			// The returned lists are the caller's own.
			c.NextProtos[0] = "evil"
			if len(c.CipherSuites) > 0 {
				c.CipherSuites[0] = tls.TLS_RSA_WITH_AES_128_CBC_SHA
			}
			c2, _ := tlspolicy.Server(tlspolicy.Options{Profile: tt.profile, GetCertificate: get})
			if c2.NextProtos[0] != "h2" || !slices.Equal(c2.CipherSuites, tt.suites) {
				t.Error("changing one config's lists changed the next config")
			}
		})
	}
}

func TestServerNextProtosOverride(t *testing.T) {
	t.Parallel()
	protos := []string{"http/1.1"}
	c, err := tlspolicy.Server(tlspolicy.Options{Profile: tlspolicy.Intermediate, GetCertificate: newPKI(t).getCert, NextProtos: protos})
	if err != nil {
		t.Fatal(err)
	}
	protos[0] = "changed"
	if !slices.Equal(c.NextProtos, []string{"http/1.1"}) {
		t.Errorf("NextProtos = %q, want a copy of the override", c.NextProtos)
	}
}

func TestServerErrors(t *testing.T) {
	t.Parallel()
	get := func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, nil }
	tests := []struct {
		name    string
		opts    tlspolicy.Options
		wantErr string
	}{
		{"empty profile", tlspolicy.Options{GetCertificate: get}, `unknown TLS profile "": use intermediate or modern`},
		{"unknown profile", tlspolicy.Options{Profile: "old", GetCertificate: get}, `unknown TLS profile "old"`},
		{"case matters", tlspolicy.Options{Profile: "Modern", GetCertificate: get}, `unknown TLS profile "Modern"`},
		{"no certificate source", tlspolicy.Options{Profile: tlspolicy.Modern}, "no certificate source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := tlspolicy.Server(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || c != nil {
				t.Errorf("Server = %v, %v; want an error containing %q", c, err, tt.wantErr)
			}
		})
	}
}

func TestHandshakes(t *testing.T) {
	t.Parallel()
	pki := newPKI(t)
	tests := []struct {
		name       string
		profile    tlspolicy.Profile
		client     func(*tls.Config)
		wantErr    string // "" for success
		wantVer    uint16
		wantSuite  uint16
		wantALPN   string
		wantRSACrt bool
	}{
		{name: "1.3", profile: tlspolicy.Intermediate, client: func(c *tls.Config) {}, wantVer: tls.VersionTLS13},
		{name: "modern 1.3", profile: tlspolicy.Modern, client: func(c *tls.Config) {}, wantVer: tls.VersionTLS13},
		{name: "1.2 default suites", profile: tlspolicy.Intermediate, client: func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }, wantVer: tls.VersionTLS12},
		{name: "1.2 rsa", profile: tlspolicy.Intermediate, client: func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}
		}, wantVer: tls.VersionTLS12, wantSuite: tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, wantRSACrt: true},
		{name: "1.1 refused", profile: tlspolicy.Intermediate, client: func(c *tls.Config) {
			c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
		}, wantErr: "protocol version not supported"},
		{name: "1.0 refused", profile: tlspolicy.Intermediate, client: func(c *tls.Config) {
			c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS10
		}, wantErr: "protocol version not supported"},
		{name: "1.2 cbc refused", profile: tlspolicy.Intermediate, client: func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA}
		}, wantErr: "handshake failure"},
		{name: "1.2 rsa key exchange refused", profile: tlspolicy.Intermediate, client: func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384}
		}, wantErr: "handshake failure"},
		{name: "modern refuses 1.2", profile: tlspolicy.Modern, client: func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }, wantErr: "protocol version not supported"},
		{name: "alpn server preference", profile: tlspolicy.Intermediate, client: func(c *tls.Config) { c.NextProtos = []string{"http/1.1", "h2"} }, wantVer: tls.VersionTLS13, wantALPN: "h2"},
		{name: "alpn http/1.1 only", profile: tlspolicy.Intermediate, client: func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }, wantVer: tls.VersionTLS13, wantALPN: "http/1.1"},
		{name: "alpn unknown", profile: tlspolicy.Intermediate, client: func(c *tls.Config) { c.NextProtos = []string{"h3"} }, wantErr: "no application protocol"},
	}
	// Every suite of the intermediate list completes a TLS 1.2 handshake.
	for _, id := range mozillaIntermediate {
		tests = append(tests, struct {
			name       string
			profile    tlspolicy.Profile
			client     func(*tls.Config)
			wantErr    string
			wantVer    uint16
			wantSuite  uint16
			wantALPN   string
			wantRSACrt bool
		}{name: "1.2 " + tls.CipherSuiteName(id), profile: tlspolicy.Intermediate, client: func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{id}
		}, wantVer: tls.VersionTLS12, wantSuite: id, wantRSACrt: strings.Contains(tls.CipherSuiteName(id), "_RSA_")})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cli := pki.client()
			tt.client(cli)
			st, err := handshake(t, pki.server(t, tt.profile), cli)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("handshake error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.Version != tt.wantVer {
				t.Errorf("version %s, want %s", tls.VersionName(st.Version), tls.VersionName(tt.wantVer))
			}
			if tt.wantSuite != 0 && st.CipherSuite != tt.wantSuite {
				t.Errorf("suite %s, want %s", tls.CipherSuiteName(st.CipherSuite), tls.CipherSuiteName(tt.wantSuite))
			}
			if st.NegotiatedProtocol != tt.wantALPN {
				t.Errorf("ALPN %q, want %q", st.NegotiatedProtocol, tt.wantALPN)
			}
			if _, isRSA := st.PeerCertificates[0].PublicKey.(*rsa.PublicKey); isRSA != tt.wantRSACrt {
				t.Errorf("server certificate RSA = %v, want %v", isRSA, tt.wantRSACrt)
			}
		})
	}
}

func TestReject(t *testing.T) {
	t.Parallel()
	pki := newPKI(t)
	direct := tlspolicy.Reject()
	// As the server uses it: chosen per handshake by GetConfigForClient.
	routed := pki.server(t, tlspolicy.Intermediate)
	routed.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return tlspolicy.Reject(), nil }
	for name, srv := range map[string]*tls.Config{"direct": direct, "GetConfigForClient": routed} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
				cli := pki.client()
				cli.ServerName = "unknown.example"
				cli.MaxVersion = v
				_, err := handshake(t, srv, cli)
				if err == nil || !strings.Contains(err.Error(), "unrecognized name") {
					t.Errorf("%s: handshake error %v, want an unrecognized name alert", tls.VersionName(v), err)
				}
			}
		})
	}
	if r := tlspolicy.Reject(); r.MinVersion < tls.VersionTLS12 || len(r.Certificates) != 0 || r.GetCertificate != nil {
		t.Error("Reject config could serve a certificate or old protocol versions")
	}
}

func TestClient(t *testing.T) {
	t.Parallel()
	pki := newPKI(t)
	c := tlspolicy.Client(pki.ca.Pool())
	if c.MinVersion != tls.VersionTLS12 || c.InsecureSkipVerify {
		t.Fatalf("client config MinVersion %x InsecureSkipVerify %v", c.MinVersion, c.InsecureSkipVerify)
	}
	if !slices.Equal(c.CipherSuites, mozillaIntermediate) {
		t.Errorf("client suites %v", names(c.CipherSuites))
	}
	cli := c.Clone()
	cli.ServerName = "example.com"
	if _, err := handshake(t, pki.server(t, tlspolicy.Intermediate), cli); err != nil {
		t.Errorf("handshake with the right roots: %v", err)
	}
	wrong := tlspolicy.Client(pkitest.NewCA(t, "Other").Pool())
	wrong.ServerName = "example.com"
	var uae x509.UnknownAuthorityError
	if _, err := handshake(t, pki.server(t, tlspolicy.Intermediate), wrong); err == nil || !errors.As(err, &uae) {
		t.Errorf("handshake with other roots: %v, want an unknown authority error", err)
	}

	// A caller editing its config must not weaken every later config.
	c.CipherSuites[0] = tls.TLS_RSA_WITH_AES_128_CBC_SHA
	if got := tlspolicy.Client(nil).CipherSuites; !slices.Equal(got, mozillaIntermediate) {
		t.Errorf("after editing one client config, the next has %v", names(got))
	}
	if got := tlspolicy.Intermediate.CipherSuites(); !slices.Equal(got, mozillaIntermediate) {
		t.Errorf("after editing a client config, the server profile has %v", names(got))
	}
}

func names(ids []uint16) []string {
	var out []string
	for _, id := range ids {
		out = append(out, tls.CipherSuiteName(id))
	}
	return out
}

// TestKeyExchangeGroups pins the groups the server accepts, which the
// README lists (issue 15, item 17): Go's defaults, chosen deliberately —
// every one is strong. A Go release that changes them fails here, so the
// README is updated with it.
func TestKeyExchangeGroups(t *testing.T) {
	p := newPKI(t)
	srv := p.server(t, tlspolicy.Intermediate)
	accepted := map[uint16][]tls.CurveID{
		tls.VersionTLS13: {tls.X25519MLKEM768, tls.SecP256r1MLKEM768, tls.SecP384r1MLKEM1024,
			tls.X25519, tls.CurveP256, tls.CurveP384, tls.CurveP521},
		tls.VersionTLS12: {tls.X25519, tls.CurveP256, tls.CurveP384, tls.CurveP521},
	}
	for v, groups := range accepted {
		for _, g := range groups {
			cli := p.client()
			cli.MinVersion, cli.MaxVersion = v, v
			cli.CurvePreferences = []tls.CurveID{g}
			st, err := handshake(t, srv, cli)
			if err != nil || st.CurveID != g {
				t.Errorf("%x %v: %v (got %v)", v, g, err, st.CurveID)
			}
		}
	}
}

// TestQUIC: a site's QUIC config is TLS 1.3 with h3 alone, whatever the
// profile and the ALPN list asked for (an ACME site's acme-tls/1 is not
// served over QUIC), keeps the client CAs, and seals tickets with its
// own keys rather than those of the TCP config built from the same
// options.
func TestQUIC(t *testing.T) {
	t.Parallel()
	pool := x509.NewCertPool()
	pki := newPKI(t)
	o := tlspolicy.Options{Profile: tlspolicy.Intermediate, GetCertificate: pki.getCert,
		NextProtos: []string{"h2", "http/1.1", "acme-tls/1"}, ClientCAs: pool, TicketLifetime: time.Hour}
	c, err := tlspolicy.QUIC(o)
	if err != nil {
		t.Fatal(err)
	}
	if c.MinVersion != tls.VersionTLS13 || c.MaxVersion != tls.VersionTLS13 || c.CipherSuites != nil {
		t.Errorf("versions %x-%x, suites %v: want TLS 1.3 only", c.MinVersion, c.MaxVersion, c.CipherSuites)
	}
	if !slices.Equal(c.NextProtos, []string{"h3"}) {
		t.Errorf("ALPN %v, want [h3]", c.NextProtos)
	}
	if c.ClientCAs != pool || c.ClientAuth != tls.RequestClientCert {
		t.Errorf("client auth %v with CAs %p, want RequestClientCert with %p", c.ClientAuth, c.ClientCAs, pool)
	}
	o.ClientCAs = nil
	c, _ = tlspolicy.QUIC(o)
	tcp, _ := tlspolicy.Server(o)
	tcp.SetSessionTicketKeys([][32]byte{{1}})
	c.SetSessionTicketKeys([][32]byte{{2}})
	cache := tls.NewLRUClientSessionCache(4)
	resumed := func(srv *tls.Config) bool {
		t.Helper()
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		go func() {
			sc := tls.Server(a, srv)
			if sc.Handshake() == nil {
				sc.Write([]byte("x")) // after the session ticket
			}
			sc.Close()
		}()
		cfg := pki.client()
		cfg.ClientSessionCache, cfg.NextProtos = cache, []string{"h3", "http/1.1"}
		cc := tls.Client(b, cfg)
		if err := cc.Handshake(); err != nil {
			t.Fatal(err)
		}
		cc.Read(make([]byte, 1))
		return cc.ConnectionState().DidResume
	}
	resumed(c)
	if !resumed(c) {
		t.Fatal("no resumption on the QUIC config itself: the test proves nothing")
	}
	if resumed(tcp) {
		t.Error("a ticket of the QUIC config resumed on the TCP config built from the same options: they share keys")
	}
	if _, err := tlspolicy.QUIC(tlspolicy.Options{Profile: "old", GetCertificate: o.GetCertificate}); err == nil {
		t.Error("an unknown profile was accepted")
	}
}
