package scan

import (
	"context"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/pkitest"
)

// TestServerOrder pins how the scanner tells a server that picks suites
// by its own preference from one that follows the client. crypto/tls is
// the case that fooled a single reversed ClientHello: it prefers
// AES-128-GCM whatever the client says, unless the client's first suite is
// ChaCha20; testssl.sh says "server order: yes" for it, and so must we,
// for tlsgate's own configuration in TLS 1.2 and 1.3.
func TestServerOrder(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "order CA")
	rsaCert := ca.Issue(t, pkitest.Leaf{Names: []string{"scan.test"}, RSA: true})
	ecCert := ca.Issue(t, pkitest.Leaf{Names: []string{"scan.test"}})
	own := tlsgateConfig(t, ecCert)
	// Static-RSA suites, so that the raw server needs no key exchange.
	raw := []uint16{0x009C, 0x009D, 0x002F, 0x0035}
	for _, tc := range []struct {
		name string
		addr func() string
		want map[string]bool // protocol -> server order
	}{
		{"tlsgate intermediate", func() string { return startGoTLS(t, own) }, map[string]bool{"TLS 1.2": true, "TLS 1.3": true}},
		{"raw server order", func() string {
			return startRaw(t, &rawServer{version: versionTLS12, accept: raw, ownOrder: true, chain: rsaCert.Certificate})
		}, map[string]bool{"TLS 1.2": true}},
		{"raw server order, weakest first", func() string {
			return startRaw(t, &rawServer{version: versionTLS12, accept: []uint16{0x002F, 0x0035, 0x009D, 0x009C}, ownOrder: true, chain: rsaCert.Certificate})
		}, map[string]bool{"TLS 1.2": true}},
		{"raw client order", func() string {
			return startRaw(t, &rawServer{version: versionTLS12, accept: raw, chain: rsaCert.Certificate})
		}, map[string]bool{"TLS 1.2": false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			r, err := Scan(ctx, tc.addr(), Options{ServerName: "scan.test", Roots: ca.Pool()})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, l := range r.Ciphers {
				got[l.Protocol] = l.ServerOrder
				if len(l.Suites) < 2 {
					t.Errorf("%s: %d suites found, want several", l.Protocol, len(l.Suites))
				}
			}
			for p, want := range tc.want {
				if o, ok := got[p]; !ok || o != want {
					t.Errorf("%s: server order %v (listed %v), want %v", p, o, ok, want)
				}
			}
		})
	}
}
