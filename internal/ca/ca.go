// Package ca is tlsgate's internal certificate authority: a root kept for
// trust distribution and an intermediate that signs leaf certificates.
//
// It is pure x509 and file handling, with no network code. The gateway uses
// it as the local development CA (certificate source "internal"); the
// `tlsgate ca` command builds on the same Authority.
//
// It owns the CA's files and their modes, what `tlsgate ca issue` writes
// (names, PKCS#12, the --out directory's rules) and its CRLs. It imports
// only internal/atomicfile of this module; it must not import config,
// certs, server or anything that speaks HTTP.
package ca

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tlsgate/tlsgate/internal/atomicfile"
)

// File names inside an Authority's directory. The root key is kept beside the
// root so that a development CA works with no ceremony; a production CA can
// move root.key offline once the intermediate exists.
const (
	RootCertFile         = "root.pem"
	RootKeyFile          = "root.key"
	IntermediateCertFile = "intermediate.pem"
	IntermediateKeyFile  = "intermediate.key"
	// PreviousIntermediateFile keeps the intermediate a renewal replaced
	// while it is valid: the leaves it signed are still in use, and a
	// client that sends only its leaf needs the gateway to know it (see
	// Intermediates). Its key is not kept.
	PreviousIntermediateFile = "intermediate.prev.pem"
)

// Validity periods. The root outlives every intermediate it can sign; the
// intermediate is re-issued by the root when less than a third of it is left.
const (
	rootValidity         = 10 * 365 * 24 * time.Hour
	intermediateValidity = 365 * 24 * time.Hour
	// backdate covers small clock differences between this machine and clients.
	backdate = 5 * time.Minute
)

// ErrNotInitialized is returned by Open when the directory holds no CA.
var ErrNotInitialized = errors.New("no CA in this directory")

// Authority is an opened CA. Its methods are safe for concurrent use.
type Authority struct {
	dir string

	mu              sync.Mutex // guards the fields below
	root            *x509.Certificate
	intermediate    *x509.Certificate
	intermediateKey crypto.Signer
	intermediatePEM []byte
	previous        *x509.Certificate // the intermediate before the last renewal, nil when none or expired
	rootPEM         []byte
	crlURL          string // see SetCRLURL
}

// Dir is the directory the Authority's files live in.
func (a *Authority) Dir() string { return a.dir }

// RootPath is the path of the root certificate, the file clients must trust.
func (a *Authority) RootPath() string { return filepath.Join(a.dir, RootCertFile) }

// Root returns the root certificate.
func (a *Authority) Root() *x509.Certificate {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.root
}

// RootPEM returns the root certificate in PEM form.
func (a *Authority) RootPEM() []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rootPEM
}

// Pool returns a certificate pool holding the root, for verifying what the
// Authority issued.
func (a *Authority) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.Root())
	return p
}

// OpenOrInit opens the CA in dir, creating it (directory 0700, keys 0600)
// when the directory holds none. created reports whether a new CA was made.
func OpenOrInit(dir, name string) (a *Authority, created bool, err error) {
	a, err = Open(dir)
	if err == nil {
		return a, false, nil
	}
	if !errors.Is(err, ErrNotInitialized) {
		return nil, false, err
	}
	a, err = Init(dir, name)
	return a, err == nil, err
}

// Init creates a new CA in dir: an ECDSA P-256 root and an intermediate signed
// by it. It refuses to touch a directory that already holds a CA.
func Init(dir, name string) (*Authority, error) {
	return InitWith(dir, name, ECDSAP256)
}

// InitWith is Init with a choice of key type for the root and intermediate.
func InitWith(dir, name string, kt KeyType) (*Authority, error) {
	if _, err := os.Stat(filepath.Join(dir, RootCertFile)); err == nil {
		return nil, fmt.Errorf("creating CA in %s: a CA already exists there (remove it first to start over)", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating CA directory: %w", err)
	}
	if name == "" {
		name = "tlsgate"
	}
	now := time.Now()
	rootKey, err := kt.generate()
	if err != nil {
		return nil, err
	}
	rootTmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: name + " Root CA", Organization: []string{name}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(rootValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("signing root certificate: %w", err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	if err := writeKey(filepath.Join(dir, RootKeyFile), rootKey); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(dir, RootCertFile), pemCert(rootDER), 0o644); err != nil {
		return nil, err
	}
	a := &Authority{dir: dir, root: root, rootPEM: pemCert(rootDER)}
	if err := a.renewIntermediate(rootKey, name); err != nil {
		return nil, err
	}
	return a, nil
}

// Open loads the CA in dir. When the intermediate is missing or has less than
// a third of its life left and the root key is present, a new intermediate is
// issued.
func Open(dir string) (*Authority, error) {
	rootPEM, err := os.ReadFile(filepath.Join(dir, RootCertFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("opening CA in %s: %w", dir, ErrNotInitialized)
	}
	if err != nil {
		return nil, fmt.Errorf("opening CA: %w", err)
	}
	root, err := parseCertPEM(rootPEM)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, RootCertFile), err)
	}
	crlURL, err := readCRLURL(dir)
	if err != nil {
		return nil, err
	}
	a := &Authority{dir: dir, root: root, rootPEM: rootPEM, crlURL: crlURL}
	if data, err := os.ReadFile(filepath.Join(dir, PreviousIntermediateFile)); err == nil {
		if prev, err := parseCertPEM(data); err == nil && time.Now().Before(prev.NotAfter) {
			a.previous = prev
		}
	}

	cert, key, err := loadPair(filepath.Join(dir, IntermediateCertFile), filepath.Join(dir, IntermediateKeyFile))
	if err == nil && time.Until(cert.NotAfter) > intermediateValidity/3 {
		a.intermediate, a.intermediateKey = cert, key
		a.intermediatePEM = pemCert(cert.Raw)
		return a, nil
	}
	rootKey, kerr := loadKey(filepath.Join(dir, RootKeyFile))
	if kerr != nil {
		if err == nil && !time.Now().Before(cert.NotAfter) {
			// Every leaf it signed would be born expired.
			err = fmt.Errorf("the intermediate expired on %s", cert.NotAfter.UTC().Format(time.RFC3339))
		}
		if err != nil {
			return nil, fmt.Errorf("opening CA: intermediate unusable (%v) and root key unavailable to re-issue it: %w", err, kerr)
		}
		// The intermediate is still valid, only due for renewal: keep using it.
		a.intermediate, a.intermediateKey = cert, key
		a.intermediatePEM = pemCert(cert.Raw)
		return a, nil
	}
	if err := a.renewIntermediate(rootKey, orgName(root)); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *Authority) renewIntermediate(rootKey crypto.Signer, name string) error {
	key, err := keyTypeOf(rootKey).generate() // the intermediate matches the root
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: name + " Intermediate CA", Organization: []string{name}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              minTime(now.Add(intermediateValidity), a.root.NotAfter),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.root, key.Public(), rootKey)
	if err != nil {
		return fmt.Errorf("signing intermediate certificate: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	// The intermediate being replaced, when still valid, stays known for
	// the leaves it signed.
	var previous *x509.Certificate
	if data, err := os.ReadFile(filepath.Join(a.dir, IntermediateCertFile)); err == nil {
		if old, err := parseCertPEM(data); err == nil && now.Before(old.NotAfter) {
			previous = old
			if err := atomicfile.Write(filepath.Join(a.dir, PreviousIntermediateFile), pemCert(old.Raw), 0o644); err != nil {
				return err
			}
		}
	}
	if err := writeKey(filepath.Join(a.dir, IntermediateKeyFile), key); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(a.dir, IntermediateCertFile), pemCert(der), 0o644); err != nil {
		return err
	}
	a.mu.Lock()
	a.intermediate, a.intermediateKey, a.intermediatePEM = cert, key, pemCert(der)
	if previous != nil {
		a.previous = previous
	}
	a.mu.Unlock()
	return nil
}

// Leaf describes a certificate to issue.
type Leaf struct {
	// Names are DNS names and IP addresses; the first is the subject's CN.
	// A server certificate may hold wildcards (*.example.com). A client
	// certificate's first name is a client name (see CheckClientName): it
	// is also a SAN only when it is a DNS name or an IP address. Issue
	// refuses names that break these rules (see Leaf.Check).
	Names []string
	// Validity is how long the certificate lasts; zero means 7 days.
	Validity time.Duration
	// Client makes a client-authentication certificate instead of a server one.
	Client bool
	// URIs are URI SANs, such as SPIFFE IDs (spiffe://example.org/payments).
	URIs []*url.URL
	// KeyType of the new key; zero means ECDSA P-256.
	KeyType KeyType
}

// Issue signs a new leaf certificate with a fresh ECDSA P-256 key and returns
// it with the intermediate in the chain, ready for tls.Config.
func (a *Authority) Issue(l Leaf) (*tls.Certificate, error) {
	if err := l.Check(); err != nil {
		return nil, fmt.Errorf("issuing certificate: %w", err)
	}
	if l.Validity == 0 {
		l.Validity = 7 * 24 * time.Hour
	}
	key, err := l.KeyType.generate()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: l.Names[0]},
		NotBefore:    now.Add(-backdate),
		KeyUsage:     l.KeyType.keyUsage(),
		URIs:         l.URIs,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if l.Client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	for i, n := range l.Names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if i > 0 || CheckDNSName(n, !l.Client) == nil {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	a.mu.Lock()
	inter, interKey, interPEM := a.intermediate, a.intermediateKey, a.intermediatePEM
	if a.crlURL != "" {
		tmpl.CRLDistributionPoints = []string{a.crlURL}
	}
	a.mu.Unlock()
	tmpl.NotAfter = minTime(now.Add(l.Validity), inter.NotAfter)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, inter, key.Public(), interKey)
	if err != nil {
		return nil, fmt.Errorf("signing certificate for %v: %w", l.Names, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	chainPEM := append(pemCert(der), interPEM...)
	cert, err := tls.X509KeyPair(chainPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		return nil, err
	}
	return &cert, nil
}

// EncodePEM returns the chain and private key of c as PEM, for writing to
// files a client or another server can use.
func EncodePEM(c *tls.Certificate) (chain, key []byte, err error) {
	for _, der := range c.Certificate {
		chain = append(chain, pemCert(der)...)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return nil, nil, err
	}
	return chain, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

func randomSerial() *big.Int {
	// 128 random bits: unpredictable serials, as the CA/Browser Forum asks.
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return s.Add(s, big.NewInt(1))
}

func orgName(c *x509.Certificate) string {
	if len(c.Subject.Organization) > 0 {
		return c.Subject.Organization[0]
	}
	return "tlsgate"
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func keyTypeOf(k crypto.Signer) KeyType {
	switch k := k.Public().(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() > 2048 {
			return RSA3072
		}
		return RSA2048
	case ed25519.PublicKey:
		return Ed25519
	}
	return ECDSAP256
}
