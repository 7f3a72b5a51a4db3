package pkitest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"testing"
	"time"
)

// Odd describes a server certificate with the flaws scanners must catch
// and real CAs no longer issue: short RSA keys, SHA-1 signatures, a leaf
// signed by an intermediate the server may not send.
type Odd struct {
	Leaf
	// RSABits, when set, makes an RSA key of that size (1024 for a weak
	// key) instead of ECDSA P-256.
	RSABits int
	// SHA1 signs the certificate with SHA-1 (RSA issuers only: use an
	// issuer from NewRSACA).
	SHA1 bool
	// IssuerURL is put in the AIA extension as the "CA Issuers" URL,
	// where a client can download the issuer when the server leaves it
	// out.
	IssuerURL string
}

// NewRSACA returns a self-signed RSA-2048 CA: the issuer SHA-1 leaves need.
func NewRSACA(t testing.TB, name string) *CA {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return selfSignedCA(t, name, key)
}

func selfSignedCA(t testing.TB, name string, key crypto.Signer) *CA {
	t.Helper()
	tmpl := caTemplate(t, name)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &CA{Cert: cert, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func caTemplate(t testing.TB, name string) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
}

// Intermediate returns a CA (ECDSA P-256) whose certificate c signs.
func (c *CA) Intermediate(t testing.TB, name string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := caTemplate(t, name)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Cert, key.Public(), c.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &CA{Cert: cert, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// IssueOdd signs a leaf with the flaws o asks for. The chain holds only
// the leaf: append c.Cert.Raw to send the intermediate.
func (c *CA) IssueOdd(t testing.TB, o Odd) *tls.Certificate {
	t.Helper()
	key := oddKey(t, o)
	tmpl := leafTemplate(t, o)
	if o.SHA1 {
		tmpl.SignatureAlgorithm = x509.SHA1WithRSA
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Cert, key.Public(), c.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// SelfSigned returns a leaf signed by its own key, as `openssl req -x509`
// makes them.
func SelfSigned(t testing.TB, o Odd) *tls.Certificate {
	t.Helper()
	key := oddKey(t, o)
	tmpl := leafTemplate(t, o)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func oddKey(t testing.TB, o Odd) crypto.Signer {
	t.Helper()
	var key crypto.Signer
	var err error
	switch {
	case o.RSABits > 0:
		key, err = rsa.GenerateKey(rand.Reader, o.RSABits)
	case o.RSA:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func leafTemplate(t testing.TB, o Odd) *x509.Certificate {
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if o.IssuerURL != "" {
		tmpl.IssuingCertificateURL = []string{o.IssuerURL}
	}
	if len(o.Names) > 0 {
		tmpl.Subject.CommonName = o.Names[0]
	}
	for _, n := range o.Names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	return tmpl
}
