package metrics

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/inventory"
	"github.com/tlsgate/tlsgate/internal/pkitest"
)

func TestFailureReason(t *testing.T) {
	for msg, want := range map[string]string{
		"http: TLS handshake error from 127.0.0.1:5: tls: no cipher suite supported by both client and server": "no_shared_cipher",
		"http: TLS handshake error from 127.0.0.1:5: tls: client offered only unsupported versions: [302 301]": "unsupported_version",
		"http: TLS handshake error from 127.0.0.1:5: tls: no certificates configured":                          "unknown_sni",
		"http: TLS handshake error from 127.0.0.1:5: no certificate for api.example.com yet: ...":              "no_certificate",
		"http: TLS handshake error from 127.0.0.1:5: tls: failed to parse client certificate: x509: ...":       "bad_client_cert",
		"http: TLS handshake error from 127.0.0.1:5: read tcp 127.0.0.1:443->127.0.0.1:5: i/o timeout":         "timeout",
		"http: TLS handshake error from 127.0.0.1:5: EOF":                                                      "client_closed",
		"http: TLS handshake error from 127.0.0.1:5: read tcp: connection reset by peer":                       "client_closed",
		"http: TLS handshake error from 127.0.0.1:5: tls: first record does not look like a TLS handshake":     "not_tls",
		"http: TLS handshake error from 127.0.0.1:5: something new":                                            "other",

		// crypto/tls's other texts, as they reach net/http's log.
		"http: TLS handshake error from 127.0.0.1:5: remote error: tls: bad certificate":                                                                       "client_rejected_cert",
		"http: TLS handshake error from 127.0.0.1:5: remote error: tls: unknown certificate authority":                                                         "client_rejected_cert",
		"http: TLS handshake error from 127.0.0.1:5: remote error: tls: certificate unknown":                                                                   "client_rejected_cert",
		"http: TLS handshake error from 127.0.0.1:5: remote error: tls: protocol version not supported":                                                        "unsupported_version",
		"http: TLS handshake error from 127.0.0.1:5: remote error: tls: user canceled":                                                                         "client_closed",
		"http: TLS handshake error from 127.0.0.1:5: remote error: tls: handshake failure":                                                                     "client_alert",
		"http: TLS handshake error from 127.0.0.1:5: remote error: tls: illegal parameter":                                                                     "client_alert",
		"http: TLS handshake error from 127.0.0.1:5: tls: no key exchanges supported by both client and server":                                                "no_shared_group",
		"http: TLS handshake error from 127.0.0.1:5: tls: client offered only incompatible point formats":                                                      "no_shared_group",
		"http: TLS handshake error from 127.0.0.1:5: tls: peer doesn't support any of the certificate's signature algorithms":                                  "no_shared_signature",
		`http: TLS handshake error from 127.0.0.1:5: tls: client requested unsupported application protocols (["imap"])`:                                       "no_shared_alpn",
		"http: TLS handshake error from 127.0.0.1:5: tls: unsupported SSLv2 handshake received":                                                                "unsupported_version",
		"http: TLS handshake error from 127.0.0.1:5: tls: client using inappropriate protocol fallback":                                                        "unsupported_version",
		"http: TLS handshake error from 127.0.0.1:5: tls: client didn't provide a certificate":                                                                 "bad_client_cert",
		"http: TLS handshake error from 127.0.0.1:5: tls: failed to verify certificate: x509: certificate signed by unknown authority":                         "bad_client_cert",
		"http: TLS handshake error from 127.0.0.1:5: tls: oversized record received with length 20527":                                                         "not_tls",
		"http: TLS handshake error from 127.0.0.1:5: local error: tls: bad record MAC":                                                                         "protocol_error",
		"http: TLS handshake error from 127.0.0.1:5: tls: received unexpected handshake message of type *tls.clientHelloMsg when waiting for *tls.finishedMsg": "protocol_error",
		"http: TLS handshake error from 127.0.0.1:5: tls: invalid client key share":                                                                            "protocol_error",
		"http: TLS handshake error from 127.0.0.1:5: tls: handshake message of length 70000 bytes exceeds maximum of 65536 bytes":                              "protocol_error",
		"http: TLS handshake error from 127.0.0.1:5: read tcp 127.0.0.1:443->127.0.0.1:5: read: unexpected EOF":                                                "client_closed",
	} {
		if got := FailureReason(msg); got != want {
			t.Errorf("FailureReason(%q) = %s, want %s", msg, got, want)
		}
	}
	for _, r := range FailureReasons {
		if r != "other" && ReasonText(r) == r {
			t.Errorf("no text for %s", r)
		}
	}
}

// TestFailureReasonLive sorts the errors crypto/tls really returns when a
// client cannot agree with the gateway's policy, so that a change in Go's
// texts shows here rather than as a growing "other".
func TestFailureReasonLive(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "Reason CA")
	srv := &tls.Config{
		Certificates:     []tls.Certificate{*ca.Issue(t, pkitest.Leaf{Names: []string{"reason.example"}})},
		MinVersion:       tls.VersionTLS12,
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519},
		CipherSuites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		NextProtos:       []string{"h2", "http/1.1"},
	}
	client := func(f func(*tls.Config)) *tls.Config {
		c := &tls.Config{ServerName: "reason.example", RootCAs: ca.Pool()}
		f(c)
		return c
	}
	for _, tt := range []struct {
		name   string
		client *tls.Config
		want   string
	}{
		{"untrusted issuer", client(func(c *tls.Config) { c.RootCAs = x509.NewCertPool() }), "client_rejected_cert"},
		{"wrong name", client(func(c *tls.Config) { c.ServerName = "other.example" }), "client_rejected_cert"},
		{"TLS 1.1", client(func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 }), "unsupported_version"},
		{"ALPN", client(func(c *tls.Config) { c.NextProtos = []string{"imap"} }), "no_shared_alpn"},
		{"group", client(func(c *tls.Config) {
			c.MinVersion, c.CurvePreferences = tls.VersionTLS13, []tls.CurveID{tls.CurveP384}
		}), "no_shared_group"},
		{"cipher", client(func(c *tls.Config) {
			c.MaxVersion, c.CipherSuites = tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}
		}), "no_shared_cipher"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Loopback TCP, not net.Pipe: a pipe has no buffer, so a client
			// that stops reading to send its alert would block the server.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					return
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				tls.Client(c, tt.client).Handshake()
				c.Close()
			}()
			c, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			err = tls.Server(c, srv).Handshake()
			c.Close()
			if err == nil {
				t.Fatal("handshake succeeded")
			}
			msg := "http: TLS handshake error from 127.0.0.1:5: " + err.Error()
			if got := FailureReason(msg); got != tt.want {
				t.Errorf("FailureReason(%q) = %s, want %s", msg, got, tt.want)
			}
		})
	}
}

func TestLabelsStayBounded(t *testing.T) {
	for in, want := range map[string]string{"GET": "GET", "PROPFIND": "other", "get": "other", "": "other"} {
		if got := methodLabel(in); got != want {
			t.Errorf("methodLabel(%q) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[int]string{200: "2xx", 404: "4xx", 599: "5xx", 0: "other", 600: "other", 101: "1xx"} {
		if got := codeClass(in); got != want {
			t.Errorf("codeClass(%d) = %s, want %s", in, got, want)
		}
	}
}

// TestClientCertFailuresRing keeps the newest 50 failures, newest first,
// and feeds the expiry gauge from successes only.
func TestClientCertFailuresRing(t *testing.T) {
	m, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		leaf := &x509.Certificate{Subject: pkix.Name{CommonName: fmt.Sprint(i)}, Issuer: pkix.Name{CommonName: "evil"}}
		m.ClientCert("s", "/r/", "untrusted issuer", leaf)
	}
	got := m.RecentClientCertFailures()
	if len(got) != recentFailures || got[0].Subject != "CN=59" || got[recentFailures-1].Subject != "CN=10" {
		t.Fatalf("ring: %d entries, first %q, last %q", len(got), got[0].Subject, got[len(got)-1].Subject)
	}
	if len(m.clientSeen) != 0 {
		t.Errorf("failed certificates reached the per-issuer expiry gauge: %v", m.clientSeen)
	}
	soon, later := time.Now().Add(time.Hour), time.Now().Add(48*time.Hour)
	ca := pkix.Name{CommonName: "Clients CA"}
	m.ClientCert("s", "/r/", "success", &x509.Certificate{Issuer: ca, NotAfter: later})
	m.ClientCert("s", "/r/", "success", &x509.Certificate{Issuer: ca, NotAfter: soon})
	m.ClientCert("s", "/r/", "success", &x509.Certificate{Issuer: ca, NotAfter: later})
	if got := m.clientSeen["CN=Clients CA"].notAfter; !got.Equal(soon) {
		t.Errorf("earliest client expiry %v, want %v", got, soon)
	}
}

// TestRenewalDue: the renewal point is reported for self-renewing
// certificates only, with the labels of their expiry.
func TestRenewalDue(t *testing.T) {
	m, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	m.SetInventory(func() Inventory {
		return Inventory{Certificates: []inventory.Certificate{
			{Site: "a", Name: "a", Source: "internal", Issuer: "CA", Serial: "1", NotBefore: now, NotAfter: now.Add(7 * 24 * time.Hour), RenewAt: now.Add(112 * time.Hour)},
			{Site: "f", Name: "f", Source: "files", Issuer: "CA", Serial: "2", NotBefore: now, NotAfter: now.Add(90 * 24 * time.Hour)},
		}}
	})
	fams, err := m.Gatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fams {
		if f.GetName() != "tlsgate_certificate_renewal_due_timestamp_seconds" {
			continue
		}
		for _, s := range f.Metric {
			var labels []string
			for _, l := range s.Label {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			got = append(got, fmt.Sprintf("%v %v", labels, s.Gauge.GetValue()))
		}
	}
	want := fmt.Sprintf("[%s]", "[issuer=CA name=a serial=1 site=a source=internal] 1.8004032e+09")
	if fmt.Sprint(got) != want {
		t.Errorf("renewal due series:\n got %v\nwant %v", got, want)
	}
}

// TestResumedTLS12Group: Go keeps the key-exchange group of the handshake
// that made a TLS 1.2 session in its ticket, and reports it again when the
// session is resumed (there is no key exchange then), so a resumed TLS
// 1.2 handshake is counted under that group, not "none" (docs/metrics.md).
func TestResumedTLS12Group(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "Group CA")
	srvCfg := &tls.Config{
		Certificates:     []tls.Certificate{*ca.Issue(t, pkitest.Leaf{Names: []string{"group.example"}})},
		MaxVersion:       tls.VersionTLS12,
		CurvePreferences: []tls.CurveID{tls.X25519},
	}
	cliCfg := &tls.Config{ServerName: "group.example", RootCAs: ca.Pool(), ClientSessionCache: tls.NewLRUClientSessionCache(1)}
	m, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	var resumed bool
	for range 2 {
		c1, c2 := net.Pipe()
		done := make(chan error, 1)
		go func() {
			s := tls.Server(c2, srvCfg)
			done <- s.Handshake()
			cs := s.ConnectionState()
			m.Handshake("s", &cs)
			c2.Close() // no close_notify: nobody reads it on a pipe
		}()
		c := tls.Client(c1, cliCfg)
		if err := c.Handshake(); err != nil {
			t.Fatal(err)
		}
		resumed = c.ConnectionState().DidResume
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		c1.Close()
	}
	if !resumed {
		t.Fatal("the second handshake did not resume")
	}
	mix := m.HandshakeMix()
	if mix.Resumed != 1 || mix.Groups["X25519"] != 2 || mix.Versions["TLS 1.2"] != 2 {
		t.Errorf("resumed %d, groups %v, versions %v: want 1 resumed and 2 TLS 1.2 X25519", mix.Resumed, mix.Groups, mix.Versions)
	}
	if groupName(0) != "none" {
		t.Errorf("groupName(0) = %s, want none (RSA key exchange)", groupName(0))
	}
}

// TestRequestSeries: the cached series count what WithLabelValues would,
// from concurrent callers, and only the series that counted a request
// exist (none made at zero).
func TestRequestSeries(t *testing.T) {
	m, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	type call struct {
		site, route, method string
		status              int
	}
	calls := []call{
		{"a", "/", "GET", 200}, {"a", "/", "GET", 204}, {"a", "/", "PROPFIND", 404},
		{"a", "", "DELETE", 503}, {"b", "/", "GET", 200}, {"b", "/v1/", "HEAD", 99},
		{"b", "/v1/", "OPTIONS", 600}, {"a", "/v1/", "GET", 301},
	}
	const rounds = 50
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range rounds {
				c := calls[(g+i)%len(calls)]
				m.Request(c.site, c.route, c.method, c.status, time.Millisecond)
			}
		}()
	}
	for range 4 {
		<-done
	}
	wantReq := map[string]float64{}
	wantLat := map[string]uint64{}
	for g := range 4 {
		for i := range rounds {
			c := calls[(g+i)%len(calls)]
			route := c.route
			if route == "" {
				route = "none"
			}
			wantReq[fmt.Sprintf("%s %s %s %s", c.site, route, methodLabel(c.method), codeClass(c.status))]++
			wantLat[c.site+" "+route]++
		}
	}
	fams, err := m.Gatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	gotReq := map[string]float64{}
	gotLat := map[string]uint64{}
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range mt.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			switch f.GetName() {
			case "tlsgate_http_requests_total":
				gotReq[fmt.Sprintf("%s %s %s %s", l["site"], l["route"], l["method"], l["code"])] = mt.GetCounter().GetValue()
			case "tlsgate_http_request_duration_seconds":
				gotLat[l["site"]+" "+l["route"]] = mt.GetHistogram().GetSampleCount()
			}
		}
	}
	if fmt.Sprint(gotReq) != fmt.Sprint(wantReq) {
		t.Errorf("requests:\n got %v\nwant %v", gotReq, wantReq)
	}
	if fmt.Sprint(gotLat) != fmt.Sprint(wantLat) {
		t.Errorf("latency counts:\n got %v\nwant %v", gotLat, wantLat)
	}
}
