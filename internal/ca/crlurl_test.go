package ca

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestCRLURL: certificates issued after SetCRLURL carry the distribution
// point, those before do not; the setting survives Open and is removed
// with "".
func TestCRLURL(t *testing.T) {
	t.Parallel()
	a := newCA(t)
	before, err := a.Issue(Leaf{Names: []string{"before.internal"}})
	if err != nil {
		t.Fatal(err)
	}
	const u = "http://pki.example.com/tlsgate.crl"
	if err := a.SetCRLURL(u); err != nil {
		t.Fatal(err)
	}
	b, err := Open(a.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if b.CRLURL() != u {
		t.Fatalf("reopened CA has CRL URL %q, want %q", b.CRLURL(), u)
	}
	for _, l := range []Leaf{{Names: []string{"after.internal"}}, {Names: []string{"svc"}, Client: true}} {
		c, err := b.Issue(l)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.Leaf.CRLDistributionPoints, []string{u}) {
			t.Errorf("%v: CRL distribution points %q, want [%s]", l.Names, c.Leaf.CRLDistributionPoints, u)
		}
	}
	if len(before.Leaf.CRLDistributionPoints) != 0 {
		t.Errorf("certificate issued before has distribution points %q", before.Leaf.CRLDistributionPoints)
	}
	if err := b.SetCRLURL(""); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(a.Dir(), CRLURLFile)); !os.IsNotExist(err) {
		t.Errorf("%s still there after SetCRLURL(\"\"): %v", CRLURLFile, err)
	}
	if c, _ := b.Issue(Leaf{Names: []string{"cleared.internal"}}); len(c.Leaf.CRLDistributionPoints) != 0 {
		t.Errorf("after clearing: distribution points %q", c.Leaf.CRLDistributionPoints)
	}
	for _, bad := range []string{"https://pki.example.com/c.crl", "pki.example.com/c.crl", "http:///c.crl", "http://u@pki/c.crl", "http://pki/c.crl?x=1", "ldap://pki/cn=x"} {
		if err := b.SetCRLURL(bad); err == nil {
			t.Errorf("SetCRLURL(%q) accepted", bad)
		}
	}
}
