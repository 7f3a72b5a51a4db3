package mtls

import (
	"crypto/x509"
	"net/url"
	"testing"
)

// TestIdentityListsHoldNoSeparator: a certificate name that holds the
// list separator must not read as two identities to an upstream that
// splits X-Client-SAN-URI or X-Client-SAN-DNS on commas (found by the
// adversarial suite).
func TestIdentityListsHoldNoSeparator(t *testing.T) {
	t.Parallel()
	u1, _ := url.Parse("spiffe://evil.example/x,spiffe://example.org/payments")
	u2, _ := url.Parse("spiffe://example.org/ok")
	leaf := &x509.Certificate{URIs: []*url.URL{u1, u2}, DNSNames: []string{"evil.example,payments.internal", "api.internal", "a b.internal"}}
	id := newIdentity(leaf)
	if got, want := id.uris[0], "spiffe://evil.example/x%2Cspiffe://example.org/payments,spiffe://example.org/ok"; got != want {
		t.Errorf("URI list %q, want %q", got, want)
	}
	if got, want := id.dns[0], "api.internal"; got != want {
		t.Errorf("DNS list %q, want %q", got, want)
	}
}
