package ca

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/tlsgate/tlsgate/internal/atomicfile"
)

// CRLURLFile holds the CRL distribution point URL that certificates issued
// by the Authority carry (one line). Without it they carry none. Both the
// gateway (config key ca.crl_url) and 'tlsgate ca crl --crl-url' set it,
// so that 'tlsgate ca issue' and the gateway name the same place.
const CRLURLFile = "crl-url"

// CheckCRLURL checks a CRL distribution point URL: absolute http with a
// host. Not https: a client that checks revocation of the certificate
// serving the CRL would need the CRL to do so (RFC 5280, 4.2.1.13 and the
// CA/Browser Forum both use http; the CRL is signed, so plain HTTP does
// not let anyone forge it).
func CheckCRLURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL: %v", s, err)
	case u.Scheme != "http" || u.Host == "" || u.Opaque != "":
		return fmt.Errorf("%q: a CRL distribution point is an http:// URL with a host, such as http://pki.example.com/tlsgate.crl (not https: a client would need the CRL to trust the server giving it)", s)
	case u.User != nil || u.Fragment != "" || u.RawQuery != "":
		return fmt.Errorf("%q: a CRL distribution point has no user, query or fragment", s)
	case strings.ContainsAny(s, " \t\r\n"):
		return fmt.Errorf("%q: a URL has no white space", s)
	}
	return nil
}

// CRLURL returns the CRL distribution point put into certificates issued
// from now on, or "" for none.
func (a *Authority) CRLURL() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.crlURL
}

// SetCRLURL makes certificates issued from now on carry u as their CRL
// distribution point, and records it in CRLURLFile so that every user of
// the directory does the same; "" removes it. Certificates already issued
// keep what they carry.
func (a *Authority) SetCRLURL(u string) error {
	if u != "" {
		if err := CheckCRLURL(u); err != nil {
			return err
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if u == a.crlURL {
		return nil
	}
	p := filepath.Join(a.dir, CRLURLFile)
	if u == "" {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing the CRL URL: %w", err)
		}
	} else if err := atomicfile.Write(p, []byte(u+"\n"), 0o644); err != nil {
		return fmt.Errorf("recording the CRL URL: %w", err)
	}
	a.crlURL = u
	return nil
}

// readCRLURL reads CRLURLFile of dir; a missing file means none.
func readCRLURL(dir string) (string, error) {
	p := filepath.Join(dir, CRLURLFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("opening CA: %w", err)
	}
	u := strings.TrimSpace(string(data))
	if u == "" {
		return "", nil
	}
	if err := CheckCRLURL(u); err != nil {
		return "", fmt.Errorf("reading %s: %w", p, err)
	}
	return u, nil
}
