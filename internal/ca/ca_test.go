package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/atomicfile"
)

func newCA(t *testing.T) *Authority {
	t.Helper()
	a, err := Init(filepath.Join(t.TempDir(), "ca"), "Test")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseCertPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestInitFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "nested", "ca")
	a, err := Init(dir, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o700 {
		t.Errorf("CA directory mode = %04o, want 0700", got)
	}
	modes := map[string]os.FileMode{
		RootKeyFile:          0o600,
		IntermediateKeyFile:  0o600,
		RootCertFile:         0o644,
		IntermediateCertFile: 0o644,
	}
	for name, want := range modes {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode = %04o, want %04o", name, got, want)
		}
	}
	// The atomic writes leave nothing behind but the four files.
	names := dirNames(t, dir)
	slices.Sort(names)
	want := []string{IntermediateKeyFile, IntermediateCertFile, RootKeyFile, RootCertFile}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("CA directory holds %q, want %q", names, want)
	}

	root, inter := a.Root(), readCert(t, filepath.Join(dir, IntermediateCertFile))
	if !root.IsCA || root.MaxPathLen != 1 || root.Subject.CommonName != "Acme Root CA" {
		t.Errorf("root: IsCA=%v MaxPathLen=%d CN=%q", root.IsCA, root.MaxPathLen, root.Subject.CommonName)
	}
	if !inter.IsCA || !inter.MaxPathLenZero || inter.MaxPathLen != 0 {
		t.Errorf("intermediate: IsCA=%v MaxPathLen=%d zero=%v", inter.IsCA, inter.MaxPathLen, inter.MaxPathLenZero)
	}
	if err := inter.CheckSignatureFrom(root); err != nil {
		t.Errorf("intermediate is not signed by the root: %v", err)
	}
	if a.Dir() != dir || a.RootPath() != filepath.Join(dir, RootCertFile) {
		t.Errorf("Dir() = %q, RootPath() = %q", a.Dir(), a.RootPath())
	}
	if onDisk := readCert(t, a.RootPath()); !onDisk.Equal(root) {
		t.Error("root.pem differs from Root()")
	}
	if c, err := parseCertPEM(a.RootPEM()); err != nil || !c.Equal(root) {
		t.Errorf("RootPEM() does not hold the root: %v", err)
	}
}

func TestInitRefusesExistingCA(t *testing.T) {
	t.Parallel()
	a := newCA(t)
	before, err := os.ReadFile(a.RootPath())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Init(a.Dir(), "Other")
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("Init over an existing CA: err = %v, want an 'already exists' error", err)
	}
	after, err := os.ReadFile(a.RootPath())
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("Init replaced the existing root")
	}
}

func TestOpenOrInit(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "ca")
	a1, created, err := OpenOrInit(dir, "Test")
	if err != nil || !created {
		t.Fatalf("first OpenOrInit: created=%v err=%v, want created", created, err)
	}
	a2, created, err := OpenOrInit(dir, "Test")
	if err != nil || created {
		t.Fatalf("second OpenOrInit: created=%v err=%v, want reuse", created, err)
	}
	if a1.Root().SerialNumber.Cmp(a2.Root().SerialNumber) != 0 {
		t.Error("second OpenOrInit made a new root")
	}
	a1.mu.Lock()
	s1 := a1.intermediate.SerialNumber
	a1.mu.Unlock()
	a2.mu.Lock()
	s2 := a2.intermediate.SerialNumber
	a2.mu.Unlock()
	if s1.Cmp(s2) != 0 {
		t.Error("a fresh intermediate was re-issued on open")
	}
	// What one opening issued, the other verifies.
	leaf, err := a2.Issue(Leaf{Names: []string{"example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(t, a1, leaf, "example.com", x509.ExtKeyUsageServerAuth); err != nil {
		t.Errorf("leaf issued by the reopened CA: %v", err)
	}
}

func TestOpenOrInitKeepsDamagedCA(t *testing.T) {
	t.Parallel()
	a := newCA(t)
	if err := os.WriteFile(a.RootPath(), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, created, err := OpenOrInit(a.Dir(), "Test")
	if err == nil || created {
		t.Fatalf("OpenOrInit on a damaged CA: created=%v err=%v, want an error", created, err)
	}
	if errors.Is(err, ErrNotInitialized) {
		t.Errorf("damaged CA reported as not initialized: %v", err)
	}
	if data, _ := os.ReadFile(a.RootPath()); string(data) != "garbage" {
		t.Error("OpenOrInit overwrote a damaged CA")
	}
}

func TestOpenEmpty(t *testing.T) {
	t.Parallel()
	_, err := Open(t.TempDir())
	if !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("Open(empty dir) = %v, want ErrNotInitialized", err)
	}
}

func verify(t *testing.T, a *Authority, c *tls.Certificate, name string, eku x509.ExtKeyUsage) error {
	t.Helper()
	inters := x509.NewCertPool()
	for _, der := range c.Certificate[1:] {
		ic, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		inters.AddCert(ic)
	}
	_, err := c.Leaf.Verify(x509.VerifyOptions{
		DNSName:       name,
		Roots:         a.Pool(),
		Intermediates: inters,
		KeyUsages:     []x509.ExtKeyUsage{eku},
	})
	return err
}

func TestIssue(t *testing.T) {
	t.Parallel()
	a := newCA(t)
	tests := []struct {
		name   string
		leaf   Leaf
		good   []string // names that must verify
		bad    []string // names that must not
		client bool
	}{
		{"dns", Leaf{Names: []string{"example.com", "www.example.com"}}, []string{"example.com", "www.example.com"}, []string{"other.example.com"}, false},
		{"ip", Leaf{Names: []string{"127.0.0.1", "::1", "localhost"}}, []string{"127.0.0.1", "::1", "localhost"}, []string{"127.0.0.2"}, false},
		{"wildcard", Leaf{Names: []string{"*.example.com"}}, []string{"a.example.com"}, []string{"example.com", "a.b.example.com"}, false},
		{"client", Leaf{Names: []string{"alice"}, Client: true}, []string{""}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := a.Issue(tt.leaf)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Certificate) != 2 {
				t.Fatalf("chain has %d certificates, want leaf and intermediate", len(c.Certificate))
			}
			if c.Leaf.Subject.CommonName != tt.leaf.Names[0] {
				t.Errorf("CN = %q, want %q", c.Leaf.Subject.CommonName, tt.leaf.Names[0])
			}
			if c.Leaf.IsCA {
				t.Error("leaf is a CA")
			}
			want, other := x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth
			if tt.client {
				want, other = other, want
			}
			for _, n := range tt.good {
				if err := verify(t, a, c, n, want); err != nil {
					t.Errorf("verifying for %q: %v", n, err)
				}
				if err := verify(t, a, c, n, other); err == nil {
					t.Errorf("verifies for %q with the wrong extended key usage", n)
				}
			}
			for _, n := range tt.bad {
				if err := verify(t, a, c, n, want); err == nil {
					t.Errorf("verifies for %q, which it does not name", n)
				}
			}
			// Default validity is seven days.
			if d := c.Leaf.NotAfter.Sub(c.Leaf.NotBefore); d != 7*24*time.Hour+backdate {
				t.Errorf("validity = %v, want 7 days plus the backdate", d)
			}
			// The result is usable by crypto/tls as is.
			chain, key, err := EncodePEM(c)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tls.X509KeyPair(chain, key); err != nil {
				t.Errorf("EncodePEM round trip: %v", err)
			}
		})
	}
	t.Run("ip-sans", func(t *testing.T) {
		t.Parallel()
		c, err := a.Issue(Leaf{Names: []string{"127.0.0.1", "host"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Leaf.IPAddresses) != 1 || !c.Leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !slices.Equal(c.Leaf.DNSNames, []string{"host"}) {
			t.Errorf("IPs %v DNS %v: IP names must be IP SANs, not DNS names", c.Leaf.IPAddresses, c.Leaf.DNSNames)
		}
	})
	t.Run("no-names", func(t *testing.T) {
		t.Parallel()
		if _, err := a.Issue(Leaf{}); err == nil {
			t.Error("Issue with no names succeeded")
		}
	})
	t.Run("capped-by-intermediate", func(t *testing.T) {
		t.Parallel()
		c, err := a.Issue(Leaf{Names: []string{"long.example"}, Validity: 3 * intermediateValidity})
		if err != nil {
			t.Fatal(err)
		}
		a.mu.Lock()
		interEnd := a.intermediate.NotAfter
		a.mu.Unlock()
		if !c.Leaf.NotAfter.Equal(interEnd) {
			t.Errorf("leaf NotAfter %v, want the intermediate's %v", c.Leaf.NotAfter, interEnd)
		}
	})
}

func TestIssueConcurrent(t *testing.T) {
	t.Parallel()
	a := newCA(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := a.Issue(Leaf{Names: []string{"example.com"}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// writeIntermediate replaces the CA's intermediate with one signed by the
// root that ends at notAfter, as if it had been issued long ago.
func writeIntermediate(t *testing.T, dir string, notAfter time.Time) *x509.Certificate {
	t.Helper()
	root := readCert(t, filepath.Join(dir, RootCertFile))
	rootKey, err := loadKey(filepath.Join(dir, RootKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "Old Intermediate CA"},
		NotBefore:             notAfter.Add(-intermediateValidity),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root, key.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeKey(filepath.Join(dir, IntermediateKeyFile), key); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(filepath.Join(dir, IntermediateCertFile), pemCert(der), 0o644); err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestOpenRenewsIntermediate(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tests := []struct {
		name     string
		notAfter time.Time
		renew    bool
	}{
		{"expired", now.Add(-time.Hour), true},
		{"near-expiry", now.Add(30 * 24 * time.Hour), true},
		{"just-under-a-third", now.Add(intermediateValidity/3 - time.Hour), true},
		{"healthy", now.Add(intermediateValidity/3 + 24*time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := newCA(t).Dir()
			old := writeIntermediate(t, dir, tt.notAfter)
			a, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			a.mu.Lock()
			cur := a.intermediate
			a.mu.Unlock()
			renewed := !cur.Equal(old)
			if renewed != tt.renew {
				t.Fatalf("intermediate renewed = %v, want %v", renewed, tt.renew)
			}
			onDisk := readCert(t, filepath.Join(dir, IntermediateCertFile))
			if !onDisk.Equal(cur) {
				t.Error("the intermediate in use is not the one on disk")
			}
			if tt.renew && time.Until(cur.NotAfter) < intermediateValidity-time.Hour {
				t.Errorf("new intermediate ends %v, want about a year from now", cur.NotAfter)
			}
			leaf, err := a.Issue(Leaf{Names: []string{"example.com"}})
			if err != nil {
				t.Fatal(err)
			}
			if err := verify(t, a, leaf, "example.com", x509.ExtKeyUsageServerAuth); err != nil {
				t.Errorf("leaf from the reopened CA: %v", err)
			}
			// A renewal keeps the intermediate it replaced while that one is
			// valid, for the leaves it signed.
			want, keepsOld := 4, tt.renew && now.Before(old.NotAfter)
			if keepsOld {
				want = 5
				if prev := readCert(t, filepath.Join(dir, PreviousIntermediateFile)); !prev.Equal(old) {
					t.Error("the previous intermediate kept is not the one replaced")
				}
				if b, err := Open(dir); err != nil || len(b.Intermediates()) != 2 || !b.Intermediates()[1].Equal(old) {
					t.Errorf("reopened, the CA does not know the replaced intermediate: %v", err)
				}
			}
			if got := a.Intermediates(); len(got) != 1+btoi(keepsOld) || !got[0].Equal(cur) || (keepsOld && !got[1].Equal(old)) {
				t.Errorf("Intermediates() = %d certificates, want the current one then the replaced one if valid", len(got))
			}
			if n := len(dirNames(t, dir)); n != want {
				t.Errorf("CA directory holds %d files after Open, want %d (temporary files left?)", n, want)
			}
		})
	}
}

func TestOpenWithoutRootKey(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tests := []struct {
		name     string
		notAfter time.Time
		missing  bool // intermediate files absent
		wantErr  bool
	}{
		// Due for renewal but still valid: keep serving with it.
		{name: "near-expiry", notAfter: now.Add(30 * 24 * time.Hour)},
		// Expired: every leaf it signs would be born expired.
		{name: "expired", notAfter: now.Add(-time.Hour), wantErr: true},
		{name: "missing", missing: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := newCA(t).Dir()
			writeIntermediate(t, dir, tt.notAfter)
			if tt.missing {
				os.Remove(filepath.Join(dir, IntermediateCertFile))
			}
			if err := os.Remove(filepath.Join(dir, RootKeyFile)); err != nil {
				t.Fatal(err)
			}
			a, err := Open(dir)
			if tt.wantErr {
				if err == nil {
					t.Fatal("Open succeeded, want an error")
				}
				if !strings.Contains(err.Error(), "root key") {
					t.Errorf("error %q does not say the root key is needed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Leaves are capped by the short-lived intermediate.
			leaf, err := a.Issue(Leaf{Names: []string{"example.com"}, Validity: 90 * 24 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if !leaf.Leaf.NotAfter.Equal(tt.notAfter.Truncate(time.Second)) {
				t.Errorf("leaf NotAfter = %v, want the intermediate's %v", leaf.Leaf.NotAfter, tt.notAfter)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
