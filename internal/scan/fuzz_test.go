package scan

import (
	"encoding/binary"
	"testing"
)

// serverHelloSeed builds a ServerHello handshake message.
func serverHelloSeed(version, suite uint16, random []byte, ext []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, version)
	if random == nil {
		random = make([]byte, 32)
	}
	b = append(b, random...)
	b = append(b, 32)
	b = append(b, make([]byte, 32)...)
	b = binary.BigEndian.AppendUint16(b, suite)
	b = append(b, 0)
	if ext != nil {
		b = binary.BigEndian.AppendUint16(b, uint16(len(ext)))
		b = append(b, ext...)
	}
	return handshakeMsg(msgServerHello, b)
}

// fuzzSeeds are answers a server may give a ClientHello, whole and cut.
func fuzzSeeds() [][]byte {
	tls13 := []byte{0, 0x2b, 0, 2, 3, 4, 0, 0x33, 0, 36, 0, 0x1d, 0, 32}
	tls13 = append(tls13, make([]byte, 32)...)
	cert := []byte{0, 0, 7, 0, 0, 4, 1, 2, 3, 4}
	ske := []byte{3, 0, 0x1d, 32}
	ske = append(ske, make([]byte, 32)...)
	dhe := []byte{0, 4, 0xff, 0xff, 0xff, 0xff, 0, 1, 2}
	var seeds [][]byte
	seeds = append(seeds,
		record(recordHandshake, versionTLS12, append(append(append(serverHelloSeed(versionTLS12, 0xC02F, nil, []byte{0xff, 1, 0, 1, 0}),
			handshakeMsg(msgCertificate, cert)...), handshakeMsg(msgServerKeyExchange, ske)...), handshakeMsg(msgServerHelloDone, nil)...)),
		record(recordHandshake, versionTLS12, append(serverHelloSeed(versionTLS12, 0x009E, nil, nil), handshakeMsg(msgServerKeyExchange, dhe)...)),
		record(recordHandshake, versionTLS12, serverHelloSeed(versionTLS12, 0x1301, nil, tls13)),
		record(recordHandshake, versionTLS12, serverHelloSeed(versionTLS12, 0x1301, helloRetryRandom[:], []byte{0, 0x2b, 0, 2, 3, 4, 0, 0x33, 0, 2, 0x11, 0xec})),
		append(record(recordHandshake, versionTLS12, serverHelloSeed(versionTLS12, 0x002F, nil, nil)), record(recordChangeCipherSpec, versionTLS12, []byte{1})...),
		record(recordAlert, versionTLS10, []byte{2, alertProtocolVersion}),
		record(recordAlert, versionTLS12, []byte{2, alertInappropriateFallback}),
		(&rawServer{chain: [][]byte{{0x30, 0x03, 1, 2, 3}}}).sslv2ServerHello(),
		[]byte("HTTP/1.1 400 Bad Request\r\n\r\n"),
	)
	// The first message split over two records.
	sh := serverHelloSeed(versionTLS12, 0xC02F, nil, nil)
	seeds = append(seeds, append(record(recordHandshake, versionTLS12, sh[:10]), record(recordHandshake, versionTLS12, sh[10:])...))
	n := len(seeds)
	for _, s := range seeds[:n] {
		seeds = append(seeds, s[:len(s)/2])
	}
	return seeds
}

// FuzzParseResponse feeds the record and ServerHello parser (and the
// certificate list and key-exchange parsers it leads to) arbitrary server
// answers: it must never panic, and what it returns must be consistent.
func FuzzParseResponse(f *testing.F) {
	seeds := fuzzSeeds()
	if len(seeds) == 0 {
		f.Fatal("no seeds")
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, complete, err := parseResponse(data)
		if err != nil {
			if resp != nil || !complete {
				t.Fatalf("error %v with a response (%v) or incomplete", err, resp)
			}
			return
		}
		if resp == nil {
			t.Fatal("nil response without error")
		}
		if h := resp.Hello; h != nil {
			if len(h.Random) != 32 || len(h.SessionID) > 32 {
				t.Fatalf("random %d bytes, session ID %d", len(h.Random), len(h.SessionID))
			}
			h.selectedVersion()
			h.keyShareGroup()
			h.alpn()
			if resp.KeyExch != nil {
				keyExchangeParams(LookupSuite(h.Suite).Kx, resp.KeyExch)
				keyExchangeParams("DHE", resp.KeyExch)
				keyExchangeParams("ECDHE", resp.KeyExch)
			}
		}
		for _, c := range resp.Certs {
			if len(c) == 0 {
				t.Fatal("empty certificate in the list")
			}
		}
		parseCertificateList(data)
		parseClientHello(data)
	})
}

// TestFuzzSeedsParse checks that the seeds mean what they are for.
func TestFuzzSeedsParse(t *testing.T) {
	t.Parallel()
	seeds := fuzzSeeds()
	r, complete, err := parseResponse(seeds[0])
	if err != nil || !complete || r.Hello == nil || r.Hello.Suite != 0xC02F || !r.Done || len(r.Certs) != 1 {
		t.Fatalf("TLS 1.2 full answer: %+v %v %v", r, complete, err)
	}
	if c, _, err := keyExchangeParams("ECDHE", r.KeyExch); err != nil || c != 0x001d {
		t.Fatalf("curve %x %v", c, err)
	}
	r, _, _ = parseResponse(seeds[1])
	if _, bits, err := keyExchangeParams("DHE", r.KeyExch); err != nil || bits != 32 {
		t.Fatalf("DH bits %d %v", bits, err)
	}
	if r, _, _ := parseResponse(seeds[2]); r.Hello.selectedVersion() != versionTLS13 || r.Hello.keyShareGroup() != 0x001d {
		t.Fatalf("TLS 1.3: %+v", r.Hello)
	}
	if r, _, _ := parseResponse(seeds[3]); !r.Hello.Retry || r.Hello.keyShareGroup() != 0x11ec {
		t.Fatalf("HRR: %+v", r.Hello)
	}
	if r, _, _ := parseResponse(seeds[4]); !r.Resumed {
		t.Fatalf("resumption: %+v", r)
	}
	if r, _, _ := parseResponse(seeds[6]); !r.AlertSeen || r.Alert != alertInappropriateFallback {
		t.Fatalf("alert: %+v", r)
	}
	if r, _, _ := parseResponse(seeds[7]); !r.SSLv2 || len(r.Certs) != 1 {
		t.Fatalf("SSLv2: %+v", r)
	}
	if _, _, err := parseResponse(seeds[8]); err != errNotTLS {
		t.Fatalf("HTTP: %v", err)
	}
	if r, complete, err := parseResponse(seeds[9]); err != nil || r.Hello == nil || complete {
		t.Fatalf("split ServerHello: %+v %v %v", r, complete, err)
	}
	for _, s := range seeds[10:] {
		if _, complete, err := parseResponse(s); complete && err == nil && len(s) > 7 {
			// A cut answer is incomplete unless it already holds an alert.
			if s[0] != recordAlert {
				t.Errorf("cut seed %x parsed as complete", s)
			}
		}
	}
}
