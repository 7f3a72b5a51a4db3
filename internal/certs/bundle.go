package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"time"
)

// LoadCAs reads a PEM bundle of CA certificates (trust anchors for
// upstreams or for client certificates). A certificate that does not parse,
// or a file with none, is an error.
func LoadCAs(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading CA bundle: %w", err)
	}
	out, err := ParsePEMCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// ParsePEMCertificates parses every CERTIFICATE block of a PEM bundle, in
// order. A certificate that does not parse, or no certificate, is an error.
func ParsePEMCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no PEM certificate found")
	}
	return out, nil
}

// Pool returns a pool holding certs.
func Pool(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// LoadClient reads a certificate and key for the gateway to present as a
// TLS client, with LoadFiles' checks, and refuses one outside its validity
// period.
func LoadClient(certFile, keyFile string) (*tls.Certificate, error) {
	cert, err := LoadFiles(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	if err := Check(cert, nil, time.Now()); err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	return cert, nil
}
