package mtls

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/pkitest"
)

// trustFor builds a Verifier trusting cas, with CRLs that may also be
// signed by signers (CAs that chain to one of cas, as the internal CA's
// intermediate does).
func trustFor(t *testing.T, cas, signers []*x509.Certificate, crls ...string) (*Verifier, error) {
	t.Helper()
	var set *CRLSet
	if len(crls) > 0 {
		var err error
		set, err = NewCRLSet(crls, cas, signers, slog.New(slog.DiscardHandler))
		if err != nil {
			return nil, err
		}
	}
	return NewVerifier(cas, set), nil
}

// checkBoth checks certs with and without a connection cache and fails
// unless both give want (a reason, or "" for a certificate admitted).
func checkBoth(t *testing.T, v *Verifier, want string, certs ...*x509.Certificate) {
	t.Helper()
	for _, ctx := range []context.Context{context.Background(), WithConn(context.Background())} {
		r := v.Check(ctx, certs)
		got := r.Reason
		if r.OK {
			got = ""
		}
		if got != want {
			t.Fatalf("got %s (ok=%v reason=%q), want reason %q", r.Verify(), r.OK, r.Reason, want)
		}
	}
}

func clientOf(t *testing.T, ca *pkitest.CA, cn string, serial *big.Int) *x509.Certificate {
	t.Helper()
	return ca.Issue(t, pkitest.Leaf{Names: []string{cn}, Client: true, Serial: serial}).Leaf
}

// TestRevokedIntermediate: a root's CRL that revokes an intermediate
// refuses every leaf under it, whether the intermediate is sent by the
// client or trusted from the CA bundle.
func TestRevokedIntermediate(t *testing.T) {
	t.Parallel()
	root := pkitest.NewCA(t, "root")
	inter := root.Intermediate(t, "issuing")
	leaf := clientOf(t, inter, "svc", nil)
	dir := t.TempDir()
	revoking := root.WriteCRL(t, dir, "revoking.crl", inter.Cert.SerialNumber)
	empty := root.WriteCRL(t, dir, "empty.crl")
	cases := []struct {
		name  string
		cas   []*x509.Certificate
		crl   string
		certs []*x509.Certificate
		want  string
	}{
		{"root trusted, intermediate sent", []*x509.Certificate{root.Cert}, revoking, []*x509.Certificate{leaf, inter.Cert}, ReasonRevoked},
		{"bundle trusted, intermediate sent", []*x509.Certificate{root.Cert, inter.Cert}, revoking, []*x509.Certificate{leaf, inter.Cert}, ReasonRevoked},
		{"bundle trusted, leaf only", []*x509.Certificate{root.Cert, inter.Cert}, revoking, []*x509.Certificate{leaf}, ReasonRevoked},
		{"intermediate not revoked", []*x509.Certificate{root.Cert}, empty, []*x509.Certificate{leaf, inter.Cert}, ""},
		{"bundle, intermediate not revoked", []*x509.Certificate{root.Cert, inter.Cert}, empty, []*x509.Certificate{leaf}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := trustFor(t, tc.cas, nil, tc.crl)
			if err != nil {
				t.Fatal(err)
			}
			checkBoth(t, v, tc.want, tc.certs...)
		})
	}
}

// TestCRLFromUnlistedIntermediate: with only the root trusted (the file
// `tlsgate ca init` tells users to hand out), a CRL signed by the
// intermediate loads and revokes what it lists, once the client's chain
// shows that intermediate.
func TestCRLFromUnlistedIntermediate(t *testing.T) {
	t.Parallel()
	root := pkitest.NewCA(t, "root")
	inter := root.Intermediate(t, "issuing")
	revoked, kept := clientOf(t, inter, "a", nil), clientOf(t, inter, "b", nil)
	crl := inter.WriteCRL(t, t.TempDir(), "inter.crl", revoked.SerialNumber)
	v, err := trustFor(t, []*x509.Certificate{root.Cert}, nil, crl)
	if err != nil {
		t.Fatalf("CRL of an intermediate under the trusted root refused: %v", err)
	}
	checkBoth(t, v, ReasonRevoked, revoked, inter.Cert)
	checkBoth(t, v, "", kept, inter.Cert)
}

// TestCRLFromImpostor: a CA that only shares the name of the trusted
// intermediate cannot revoke (nor unrevoke) anything it did not issue.
func TestCRLFromImpostor(t *testing.T) {
	t.Parallel()
	root := pkitest.NewCA(t, "root")
	inter := root.Intermediate(t, "issuing")
	impostor := pkitest.NewCA(t, "issuing")
	if string(impostor.Cert.RawSubject) != string(inter.Cert.RawSubject) {
		t.Fatal("the impostor does not have the intermediate's name: the test proves nothing")
	}
	a, b := clientOf(t, inter, "a", nil), clientOf(t, inter, "b", nil)
	dir := t.TempDir()
	legit := inter.WriteCRL(t, dir, "legit.crl", a.SerialNumber)
	forged := impostor.WriteCRL(t, dir, "forged.crl", b.SerialNumber)

	t.Run("intermediate in the bundle: refused at load", func(t *testing.T) {
		_, err := trustFor(t, []*x509.Certificate{root.Cert, inter.Cert}, nil, forged)
		if err == nil || !strings.Contains(err.Error(), "forged.crl") {
			t.Fatalf("forged CRL: err = %v, want a load error naming the file", err)
		}
	})
	t.Run("root only: never applied", func(t *testing.T) {
		v, err := trustFor(t, []*x509.Certificate{root.Cert}, nil, legit, forged)
		if err != nil {
			t.Fatal(err)
		}
		checkBoth(t, v, ReasonRevoked, a, inter.Cert)
		checkBoth(t, v, "", b, inter.Cert)
	})
}

// TestCRLScopedToItsIssuer: two trusted hierarchies whose intermediates
// share a name (say "Issuing CA") do not revoke each other's serials.
func TestCRLScopedToItsIssuer(t *testing.T) {
	t.Parallel()
	r1, r2 := pkitest.NewCA(t, "root 1"), pkitest.NewCA(t, "root 2")
	i1, i2 := r1.Intermediate(t, "issuing"), r2.Intermediate(t, "issuing")
	serial := big.NewInt(7)
	l1, l2 := clientOf(t, i1, "one", serial), clientOf(t, i2, "two", serial)
	crl := i1.WriteCRL(t, t.TempDir(), "i1.crl", serial)
	for _, cas := range [][]*x509.Certificate{{r1.Cert, i1.Cert, r2.Cert}, {r1.Cert, i1.Cert, r2.Cert, i2.Cert}} {
		v, err := trustFor(t, cas, nil, crl)
		if err != nil {
			t.Fatal(err)
		}
		checkBoth(t, v, ReasonRevoked, l1, i1.Cert)
		checkBoth(t, v, "", l2, i2.Cert)
	}
}

// TestCRLAfterIntermediateRenewal: the internal CA renews its
// intermediate under the same name with a new key, and signs CRLs with the
// new one; they still revoke leaves of the previous intermediate, which
// chain to the same root (RFC 5280 6.3.3 (f)).
func TestCRLAfterIntermediateRenewal(t *testing.T) {
	t.Parallel()
	root := pkitest.NewCA(t, "root")
	old, cur := root.Intermediate(t, "issuing"), root.Intermediate(t, "issuing")
	leaf := clientOf(t, old, "svc", nil)
	crl := cur.WriteCRL(t, t.TempDir(), "cur.crl", leaf.SerialNumber)
	for name, tc := range map[string]struct{ cas, signers []*x509.Certificate }{
		"internal CA": {[]*x509.Certificate{root.Cert}, []*x509.Certificate{cur.Cert}},
		"bundle":      {[]*x509.Certificate{root.Cert, cur.Cert}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			v, err := trustFor(t, tc.cas, tc.signers, crl)
			if err != nil {
				t.Fatal(err)
			}
			checkBoth(t, v, ReasonRevoked, leaf, old.Cert)
		})
	}
}

// TestRevocationAcrossCrossSignedPaths: an intermediate cross-signed by a
// second trusted root gives the client two verified paths. A leaf its
// issuer revoked is refused on both. An intermediate revoked by one root
// only is still vouched for by the other: one clean path admits, as in
// RFC 5280 path validation.
func TestRevocationAcrossCrossSignedPaths(t *testing.T) {
	t.Parallel()
	r1, r2 := pkitest.NewCA(t, "root 1"), pkitest.NewCA(t, "root 2")
	inter := r1.Intermediate(t, "issuing")
	tmpl := *inter.Cert
	tmpl.SerialNumber = big.NewInt(99)
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, r2.Cert, inter.Cert.PublicKey, r2.Key)
	if err != nil {
		t.Fatal(err)
	}
	cross, _ := x509.ParseCertificate(der)
	revoked, kept := clientOf(t, inter, "a", nil), clientOf(t, inter, "b", nil)
	dir := t.TempDir()
	leafCRL := inter.WriteCRL(t, dir, "inter.crl", revoked.SerialNumber)
	interCRL := r1.WriteCRL(t, dir, "r1.crl", inter.Cert.SerialNumber)
	cas := []*x509.Certificate{r1.Cert, r2.Cert}

	v, err := trustFor(t, cas, nil, leafCRL)
	if err != nil {
		t.Fatal(err)
	}
	checkBoth(t, v, ReasonRevoked, revoked, inter.Cert, cross)
	checkBoth(t, v, ReasonRevoked, revoked, cross)
	checkBoth(t, v, "", kept, inter.Cert, cross)

	v, err = trustFor(t, cas, nil, interCRL)
	if err != nil {
		t.Fatal(err)
	}
	checkBoth(t, v, ReasonRevoked, kept, inter.Cert)
	checkBoth(t, v, "", kept, inter.Cert, cross)
}

// TestCRLCriticalExtension: a CRL with a critical extension tlsgate does
// not process (here a delta CRL indicator) is refused at load, not taken
// as the complete list (RFC 5280, 5.2).
func TestCRLCriticalExtension(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "crit")
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:     big.NewInt(2),
		ThisUpdate: time.Now().Add(-time.Minute),
		NextUpdate: time.Now().Add(time.Hour),
		ExtraExtensions: []pkix.Extension{{
			Id:       asn1.ObjectIdentifier{2, 5, 29, 27}, // deltaCRLIndicator
			Critical: true,
			Value:    []byte{0x02, 0x01, 0x01},
		}},
	}, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "delta.crl")
	os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o644)
	_, err = NewCRLSet([]string{f}, []*x509.Certificate{ca.Cert}, nil, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "critical extension") {
		t.Fatalf("a delta CRL was accepted as a full one: %v", err)
	}
}

// TestCRLRollbackRefused: a CRL file replaced by an older CRL of the same
// issuer (a lower CRL number) is refused on reload; the newer list stays.
func TestCRLRollbackRefused(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "rollback")
	crl := func(number int64, serials ...int64) []byte {
		var entries []x509.RevocationListEntry
		for _, s := range serials {
			entries = append(entries, x509.RevocationListEntry{SerialNumber: big.NewInt(s), RevocationTime: time.Now().Add(-time.Minute)})
		}
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
			Number: big.NewInt(number), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour),
			RevokedCertificateEntries: entries,
		}, ca.Cert, ca.Key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	}
	f := filepath.Join(t.TempDir(), "ca.crl")
	os.WriteFile(f, crl(7, 42), 0o644)
	s, err := NewCRLSet([]string{f}, []*x509.Certificate{ca.Cert}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(f, crl(6), 0o644) // the older list, without serial 42
	if _, _, err := s.load(s.snap.Load()); err == nil || !strings.Contains(err.Error(), "older than number 7") {
		t.Fatalf("an older CRL replaced a newer one: %v", err)
	}
	os.WriteFile(f, crl(8, 42, 43), 0o644)
	if _, _, err := s.load(s.snap.Load()); err != nil {
		t.Fatalf("a newer CRL was refused: %v", err)
	}
}

// TestCachedVerificationEndsWithIntermediate: a connection's cached
// verification holds only until the first certificate of the chain
// expires, not until the leaf does: a leaf under an intermediate that
// expires mid-connection is refused from then on.
func TestCachedVerificationEndsWithIntermediate(t *testing.T) {
	t.Parallel()
	root := pkitest.NewCA(t, "root")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(99), Subject: pkix.Name{CommonName: "short-lived intermediate"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(1500 * time.Millisecond),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.Cert, key.Public(), root.Key)
	if err != nil {
		t.Fatal(err)
	}
	icert, _ := x509.ParseCertificate(der)
	inter := &pkitest.CA{Cert: icert, Key: key}
	leaf := inter.Issue(t, pkitest.Leaf{Names: []string{"client"}, Client: true}).Leaf
	v := NewVerifier([]*x509.Certificate{root.Cert}, nil)
	ctx := WithConn(context.Background())
	chain := []*x509.Certificate{leaf, icert}
	if r := v.Check(ctx, chain); !r.OK {
		t.Fatalf("first check: %s", r.Reason)
	}
	time.Sleep(time.Until(icert.NotAfter.Add(1100 * time.Millisecond))) // NotAfter has second precision
	if r := v.Check(ctx, chain); r.OK {
		t.Fatal("a leaf under an expired intermediate was admitted from the connection's cache")
	}
}

// TestKnownIntermediateCompletesChain: with the internal CA's intermediate
// given to NewVerifierWith, a client that sends only its leaf is verified,
// anchored at the root, and CRLs of the root (revoking the intermediate)
// and of the intermediate (revoking the leaf) still apply. The known
// intermediate is no trust anchor: with the root not trusted, its leaves
// are untrusted.
func TestKnownIntermediateCompletesChain(t *testing.T) {
	t.Parallel()
	root := pkitest.NewCA(t, "root")
	inter := root.Intermediate(t, "issuing")
	leaf := clientOf(t, inter, "svc", nil)
	revokedLeaf := clientOf(t, inter, "gone", nil)
	other := pkitest.NewCA(t, "other")
	dir := t.TempDir()
	interCRL := inter.WriteCRL(t, dir, "inter.crl", revokedLeaf.SerialNumber)
	rootEmpty := root.WriteCRL(t, dir, "root-empty.crl")
	rootRevoking := root.WriteCRL(t, dir, "root-revoking.crl", inter.Cert.SerialNumber)
	known := []*x509.Certificate{inter.Cert}
	log := slog.New(slog.DiscardHandler)
	verifier := func(cas []*x509.Certificate, crls ...string) *Verifier {
		t.Helper()
		var set *CRLSet
		if len(crls) > 0 {
			var err error
			if set, err = NewCRLSet(crls, cas, known, log); err != nil {
				t.Fatal(err)
			}
		}
		return NewVerifierWith(cas, known, set)
	}

	// Without the known intermediate, the leaf alone is untrusted (the
	// behaviour being fixed); with it, the leaf alone is admitted.
	checkBoth(t, NewVerifier([]*x509.Certificate{root.Cert}, nil), ReasonUntrusted, leaf)
	v := verifier([]*x509.Certificate{root.Cert})
	checkBoth(t, v, "", leaf)
	checkBoth(t, v, "", leaf, inter.Cert)

	// Not an anchor: trusting another root, the leaf stays untrusted.
	checkBoth(t, verifier([]*x509.Certificate{other.Cert}), ReasonUntrusted, leaf)

	// CRLs still apply to the completed chain.
	checkBoth(t, verifier([]*x509.Certificate{root.Cert}, interCRL, rootEmpty), "", leaf)
	checkBoth(t, verifier([]*x509.Certificate{root.Cert}, interCRL, rootEmpty), ReasonRevoked, revokedLeaf)
	checkBoth(t, verifier([]*x509.Certificate{root.Cert}, interCRL, rootRevoking), ReasonRevoked, leaf)
}
