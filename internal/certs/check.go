// Package certs provides serving certificates to the TLS layer: from PEM
// files (validated, and reloaded when they change) or issued by the
// internal CA. A source always keeps serving its last good certificate:
// a bad replacement is refused with an error and never goes live.
//
// It imports only internal/ca (for source internal). It must not import
// config, plan or server: they pass it file names and hosts.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"
)

// Source hands out the current certificate of one site.
// Implementations are safe for concurrent use.
type Source interface {
	// GetCertificate is the tls.Config hook.
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// Leaf returns the current leaf certificate.
	Leaf() *x509.Certificate
	// Close stops watching or renewing.
	Close() error
}

// Check reports why cert cannot serve hosts at now, or nil. It checks the
// leaf's validity period and that it covers every host.
func Check(cert *tls.Certificate, hosts []string, now time.Time) error {
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("parsing certificate: %w", err)
		}
	}
	if now.After(leaf.NotAfter) {
		return fmt.Errorf("the certificate expired on %s (%s ago): install a renewed one",
			leaf.NotAfter.UTC().Format(time.RFC3339), now.Sub(leaf.NotAfter).Round(time.Minute))
	}
	if now.Before(leaf.NotBefore) {
		return fmt.Errorf("the certificate is not valid before %s: check the clock of this machine or of the CA",
			leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	var missing []string
	for _, h := range hosts {
		if !Covers(leaf, h) {
			missing = append(missing, h)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the certificate does not cover %s (it covers: %s): get one that names these hosts, or remove them from the site's hosts",
			strings.Join(missing, ", "), strings.Join(Names(leaf), ", "))
	}
	return nil
}

// Covers reports whether leaf is valid for host, which may itself be a
// wildcard pattern such as *.example.com (then the certificate must hold
// the same wildcard).
func Covers(leaf *x509.Certificate, host string) bool {
	if addr, err := netip.ParseAddr(host); err == nil {
		for _, ip := range leaf.IPAddresses {
			if a, ok := netip.AddrFromSlice(ip); ok && a.Unmap() == addr.Unmap() {
				return true
			}
		}
		return false
	}
	if strings.HasPrefix(host, "*.") {
		for _, n := range leaf.DNSNames {
			if strings.EqualFold(n, host) {
				return true
			}
		}
		return false
	}
	return leaf.VerifyHostname(host) == nil
}

// Names lists what a certificate covers.
func Names(leaf *x509.Certificate) []string {
	names := append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		names = []string{"no DNS or IP names"}
	}
	return names
}

// ErrKeyPermissions is wrapped by LoadFiles when the key is readable by
// every user of the machine.
var ErrKeyPermissions = errors.New("private key readable by other users")

// LoadFiles reads a PEM chain and key, with errors that say how to fix them.
func LoadFiles(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("reading certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("reading key: %w", err)
	}
	if !strings.Contains(string(certPEM), "-----BEGIN CERTIFICATE-----") {
		if strings.Contains(string(certPEM), "PRIVATE KEY-----") {
			return nil, fmt.Errorf("%s holds a private key, not a certificate (are cert: and key: swapped?)", certFile)
		}
		return nil, fmt.Errorf("%s holds no PEM certificate", certFile)
	}
	if !strings.Contains(string(keyPEM), "PRIVATE KEY-----") {
		if strings.Contains(string(keyPEM), "-----BEGIN CERTIFICATE-----") {
			return nil, fmt.Errorf("%s holds a certificate, not a private key (are cert: and key: swapped?)", keyFile)
		}
		return nil, fmt.Errorf("%s holds no PEM private key", keyFile)
	}
	// Checked after the contents, so that swapped files are reported as
	// swapped rather than as a certificate with loose permissions.
	fi, err := os.Stat(keyFile)
	if err != nil {
		return nil, fmt.Errorf("reading key: %w", err)
	}
	if fi.Mode().Perm()&0o004 != 0 {
		return nil, fmt.Errorf("%s has mode %04o: %w: run chmod 600 %s", keyFile, fi.Mode().Perm(), ErrKeyPermissions, keyFile)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return nil, fmt.Errorf("the key %s does not match the certificate %s (are they from different pairs, or is the chain not leaf-first?)", keyFile, certFile)
		}
		return nil, fmt.Errorf("loading %s and %s: %w", certFile, keyFile, err)
	}
	return &cert, nil
}
