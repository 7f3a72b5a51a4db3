package mtls

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/pkitest"
)

func TestVerifyReasons(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "clients")
	other := pkitest.NewCA(t, "other")
	v := NewVerifier([]*x509.Certificate{ca.Cert}, nil)
	good := ca.Issue(t, pkitest.Leaf{Names: []string{"svc"}, Client: true})
	cases := []struct {
		name   string
		certs  []*x509.Certificate
		ok     bool
		reason string
		verify string
	}{
		{"none", nil, false, ReasonNone, "NONE"},
		{"good", []*x509.Certificate{good.Leaf}, true, "", "SUCCESS"},
		{"other CA", []*x509.Certificate{other.Issue(t, pkitest.Leaf{Names: []string{"svc"}, Client: true}).Leaf}, false, ReasonUntrusted, "FAILED:untrusted issuer"},
		{"expired", []*x509.Certificate{ca.Issue(t, pkitest.Leaf{Names: []string{"svc"}, Client: true, NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}).Leaf}, false, ReasonExpired, "FAILED:expired"},
		{"not yet valid", []*x509.Certificate{ca.Issue(t, pkitest.Leaf{Names: []string{"svc"}, Client: true, NotBefore: time.Now().Add(time.Hour), NotAfter: time.Now().Add(2 * time.Hour)}).Leaf}, false, ReasonNotYet, "FAILED:not yet valid"},
		{"server certificate used as client", []*x509.Certificate{ca.Issue(t, pkitest.Leaf{Names: []string{"svc"}}).Leaf}, false, ReasonInvalid, "FAILED:invalid certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, ctx := range []context.Context{context.Background(), WithConn(context.Background())} {
				r := v.Check(ctx, tc.certs)
				if r.OK != tc.ok || (!tc.ok && r.Reason != tc.reason) || r.Verify() != tc.verify {
					t.Fatalf("got ok=%v reason=%q verify=%q", r.OK, r.Reason, r.Verify())
				}
			}
		})
	}
}

func writeCRL(t *testing.T, path string, ca *pkitest.CA, serials ...*big.Int) {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, s := range serials {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: time.Now()})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(time.Now().UnixNano()),
		ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour), RevokedCertificateEntries: entries}, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCRLSet(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "clients")
	dir := t.TempDir()
	crl := filepath.Join(dir, "c.crl")
	revoked := ca.Issue(t, pkitest.Leaf{Names: []string{"a"}, Client: true})
	kept := ca.Issue(t, pkitest.Leaf{Names: []string{"b"}, Client: true})
	writeCRL(t, crl, ca, revoked.Leaf.SerialNumber)
	log := slog.New(slog.DiscardHandler)
	s, err := NewCRLSet([]string{crl}, []*x509.Certificate{ca.Cert}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier([]*x509.Certificate{ca.Cert}, s)
	if r := v.Check(WithConn(context.Background()), []*x509.Certificate{revoked.Leaf}); r.OK || r.Reason != ReasonRevoked {
		t.Fatalf("revoked certificate: %+v", r)
	}
	if r := v.Check(WithConn(context.Background()), []*x509.Certificate{kept.Leaf}); !r.OK {
		t.Fatalf("certificate not revoked: %+v", r)
	}
	// A CRL in the name of the trusted CA but signed by another is
	// refused at load.
	impostor := pkitest.NewCA(t, "clients")
	bad := filepath.Join(dir, "bad.crl")
	writeCRL(t, bad, impostor, kept.Leaf.SerialNumber)
	if _, err := NewCRLSet([]string{bad}, []*x509.Certificate{ca.Cert}, nil, log); err == nil || !strings.Contains(err.Error(), "no client CA of that name signed it") {
		t.Fatalf("forged CRL: %v", err)
	}
	// One from a CA that is not trusted at all may come from an
	// intermediate the configuration does not list: it loads, and revokes
	// nothing under the trusted CA.
	other := pkitest.NewCA(t, "other")
	foreign := filepath.Join(dir, "foreign.crl")
	writeCRL(t, foreign, other, kept.Leaf.SerialNumber)
	s, err = NewCRLSet([]string{foreign}, []*x509.Certificate{ca.Cert}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	if r := NewVerifier([]*x509.Certificate{ca.Cert}, s).Check(context.Background(), []*x509.Certificate{kept.Leaf}); !r.OK {
		t.Fatalf("a foreign CRL revoked a certificate: %+v", r)
	}
	if _, err := NewCRLSet([]string{filepath.Join(dir, "missing.crl")}, nil, nil, log); err == nil {
		t.Fatal("missing CRL file accepted")
	}
}

func TestAllow(t *testing.T) {
	t.Parallel()
	u, _ := url.Parse("spiffe://example.org/ns/prod/payments")
	ca := pkitest.NewCA(t, "clients")
	leaf := ca.Issue(t, pkitest.Leaf{Names: []string{"payments", "payments.internal"}, Client: true}).Leaf
	leaf.URIs = []*url.URL{u}
	cases := []struct {
		a    Allow
		want bool
	}{
		{Allow{}, true},
		{Allow{URIs: []string{"spiffe://example.org/*"}}, true},
		{Allow{URIs: []string{"spiffe://example.org/ns/prod/payments"}}, true},
		{Allow{URIs: []string{"spiffe://example.org/ns/prod/pay"}}, false},
		{Allow{URIs: []string{"spiffe://other.org/*"}}, false},
		{Allow{DNS: []string{"payments.internal"}}, true},
		{Allow{DNS: []string{"billing.internal"}}, false},
		{Allow{Subjects: []string{"CN=payments"}}, true},
		{Allow{Subjects: []string{"CN=pay"}}, false},
		{Allow{Subjects: []string{"CN=pay*"}}, true},
	}
	for _, tc := range cases {
		if got := tc.a.Permits(leaf); got != tc.want {
			t.Errorf("%+v permits = %v, want %v", tc.a, got, tc.want)
		}
	}
}

// FuzzAllow: an exact entry always admits its own value, a prefix entry
// admits exactly the values with that prefix, and nothing panics.
func FuzzAllow(f *testing.F) {
	for _, s := range [][2]string{{"spiffe://example.org/*", "spiffe://example.org/a"}, {"CN=a", "CN=a"}, {"*", ""}, {"", "x"}, {"a*b", "a*bc"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, value string) {
		got := matchAny([]string{pattern}, value)
		if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
			if got != strings.HasPrefix(value, prefix) {
				t.Fatalf("prefix %q vs %q: %v", pattern, value, got)
			}
		} else if got != (pattern == value) {
			t.Fatalf("exact %q vs %q: %v", pattern, value, got)
		}
		if !matchAny([]string{value}, value) && !strings.HasSuffix(value, "*") {
			t.Fatalf("%q does not admit itself", value)
		}
	})
}

// FuzzStripAndSet: whatever identity headers a client sends, under any
// spelling net/http lets through, the upstream sees only the gateway's.
func FuzzStripAndSet(f *testing.F) {
	f.Add("X-Client-Dn", "CN=admin", true)
	f.Add("x-client-verify", "SUCCESS", false)
	f.Add("X-CLIENT-CERT", "%00", true)
	f.Add("X-Client-Fingerprint", "", false)
	ca := pkitest.NewCA(f, "clients")
	leaf := ca.Issue(f, pkitest.Leaf{Names: []string{"svc"}, Client: true}).Leaf
	names := HeaderNames{}.WithDefaults()
	f.Fuzz(func(t *testing.T, name, value string, verified bool) {
		h := http.Header{}
		h.Add(name, value) // Add canonicalises the key, as the server does with incoming headers
		for _, k := range names.all() {
			h.Add(k, value)
		}
		names.Strip(h)
		res := Result{Reason: ReasonNone}
		if verified {
			res = Result{Leaf: leaf, OK: true}
		}
		names.Set(h, res)
		for _, k := range names.all() {
			vs := h.Values(k)
			if len(vs) > 1 {
				t.Fatalf("%s has %d values: %q", k, len(vs), vs)
			}
			if len(vs) == 1 && vs[0] == value && !gatewayValue(names, k, res, value) {
				t.Fatalf("client value %q survived in %s", value, k)
			}
		}
	})
}

// gatewayValue reports whether v is what the gateway itself puts in k.
func gatewayValue(n HeaderNames, k string, r Result, v string) bool {
	h := http.Header{}
	n.Set(h, r)
	return h.Get(k) == v
}

// EscapedPEM must equal nginx's encoding: every byte but ALPHA DIGIT - . _ ~
// as upper-case %XX. Here the reference is written differently, with
// url.QueryEscape (same unreserved set, but space as "+").
func FuzzEscapedPEM(f *testing.F) {
	f.Add([]byte{0x30, 0x82, 0x01, 0x0a})
	f.Add([]byte("hello world"))
	f.Fuzz(func(t *testing.T, der []byte) {
		p := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
		want := strings.ReplaceAll(url.QueryEscape(p), "+", "%20")
		if got := EscapedPEM(der); got != want {
			t.Fatalf("EscapedPEM = %q, want %q", got, want)
		}
	})
}

func TestStripRenamedAndDefaultNames(t *testing.T) {
	t.Parallel()
	n := HeaderNames{DN: "X-SSL-Subject"}.WithDefaults()
	h := http.Header{}
	h.Set("X-Client-DN", "CN=forged")   // default name
	h.Set("X-SSL-Subject", "CN=forged") // configured name
	h.Set("X-Other", "kept")
	n.Strip(h)
	if h.Get("X-Client-DN") != "" || h.Get("X-SSL-Subject") != "" || h.Get("X-Other") != "kept" {
		t.Fatalf("after Strip: %v", h)
	}
}
