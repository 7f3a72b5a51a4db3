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
// leaf's validity period and that it covers every host, and reports both
// problems, joined, when both hold.
func Check(cert *tls.Certificate, hosts []string, now time.Time) error {
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("parsing certificate: %w", err)
		}
	}
	var errs []error
	if now.After(leaf.NotAfter) {
		errs = append(errs, fmt.Errorf("the certificate expired on %s (%s ago): install a renewed one",
			leaf.NotAfter.UTC().Format(time.RFC3339), HumanDuration(now.Sub(leaf.NotAfter))))
	}
	if now.Before(leaf.NotBefore) {
		errs = append(errs, fmt.Errorf("the certificate is not valid before %s (%s from now): check the clock of this machine or of the CA",
			leaf.NotBefore.UTC().Format(time.RFC3339), HumanDuration(leaf.NotBefore.Sub(now))))
	}
	var missing []string
	for _, h := range hosts {
		if !Covers(leaf, h) {
			missing = append(missing, h)
		}
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("the certificate does not cover %s (it covers: %s): get one that names these hosts, or remove them from the site's hosts",
			strings.Join(missing, ", "), strings.Join(Names(leaf), ", ")))
	}
	return errors.Join(errs...)
}

// HumanDuration writes d as people say it: "10 days", "1 day", "3 hours",
// "25 minutes", "less than a minute". It rounds down, so that "2 days ago"
// is never said of something 47 hours old.
func HumanDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	switch {
	case d >= 24*time.Hour:
		return unit(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour:
		return unit(int64(d/time.Hour), "hour")
	case d >= time.Minute:
		return unit(int64(d/time.Minute), "minute")
	}
	return "less than a minute"
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

// A KeyError is a problem that lies with the key file of a pair: it cannot
// be read, holds no private key, is readable by other users, or does not
// match the certificate. LoadFiles and CheckFiles return one (errors.As)
// so that a caller can point at the key rather than the certificate. Its
// message is Err's.
type KeyError struct {
	File string
	Err  error
}

func (e *KeyError) Error() string { return e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

// LoadFiles reads a PEM chain and key, with errors that say how to fix them.
// A problem of the key file is a *KeyError.
func LoadFiles(certFile, keyFile string) (*tls.Certificate, error) {
	cert, modeErr, err := readPair(certFile, keyFile)
	if modeErr != nil { // as before the pair is parsed: the first thing to fix
		return nil, modeErr
	}
	if err != nil {
		return nil, err
	}
	return cert, nil
}

// CheckFiles reports every reason the pair in certFile and keyFile cannot
// serve hosts at now, joined: a key readable by other users, a key that
// does not match, an expired certificate, hosts it does not cover. The
// first two are *KeyError. It returns the certificate when the pair loads,
// even with a problem of the key's mode.
func CheckFiles(certFile, keyFile string, hosts []string, now time.Time) (*tls.Certificate, error) {
	cert, modeErr, err := readPair(certFile, keyFile)
	errs := []error{modeErr, err}
	if cert != nil {
		if cerr := Check(cert, hosts, now); cerr != nil {
			for _, e := range unjoin(cerr) {
				errs = append(errs, fmt.Errorf("%s: %w", certFile, e))
			}
		}
	}
	return cert, errors.Join(errs...)
}

// unjoin returns the errors joined in err, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// readPair reads and parses a pair. A key readable by other users is
// modeErr, reported apart so that callers can go on to check the
// certificate; err is any other problem, and then cert is nil.
func readPair(certFile, keyFile string) (cert *tls.Certificate, modeErr, err error) {
	keyErr := func(format string, args ...any) error {
		return &KeyError{File: keyFile, Err: fmt.Errorf(format, args...)}
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("reading certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, keyErr("reading key: %w", err)
	}
	if !strings.Contains(string(certPEM), "-----BEGIN CERTIFICATE-----") {
		if strings.Contains(string(certPEM), "PRIVATE KEY-----") {
			return nil, nil, fmt.Errorf("%s holds a private key, not a certificate (are cert: and key: swapped?)", certFile)
		}
		return nil, nil, fmt.Errorf("%s holds no PEM certificate", certFile)
	}
	if !strings.Contains(string(keyPEM), "PRIVATE KEY-----") {
		if strings.Contains(string(keyPEM), "-----BEGIN CERTIFICATE-----") {
			return nil, nil, keyErr("%s holds a certificate, not a private key (are cert: and key: swapped?)", keyFile)
		}
		return nil, nil, keyErr("%s holds no PEM private key", keyFile)
	}
	// Checked after the contents, so that swapped files are reported as
	// swapped rather than as a certificate with loose permissions.
	fi, err := os.Stat(keyFile)
	if err != nil {
		return nil, nil, keyErr("reading key: %w", err)
	}
	if fi.Mode().Perm()&0o004 != 0 {
		modeErr = keyErr("%s has mode %04o: %w: run chmod 600 %s", keyFile, fi.Mode().Perm(), ErrKeyPermissions, keyFile)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return nil, modeErr, keyErr("the key %s does not match the certificate %s (are they from different pairs, or is the chain not leaf-first?)", keyFile, certFile)
		}
		return nil, modeErr, fmt.Errorf("loading %s and %s: %w", certFile, keyFile, err)
	}
	return &pair, modeErr, nil
}
