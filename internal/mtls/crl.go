package mtls

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"
)

// CRLSet holds the revoked serials of a site's certificate revocation
// lists. Each CRL must be signed by one of the trusted CAs. Files are
// re-read when they change (Watch); a CRL that fails to load or verify is
// refused with a log line and the previous list stays in force.
type CRLSet struct {
	files   []string
	issuers []*x509.Certificate
	log     *slog.Logger

	revoked atomic.Pointer[map[string]struct{}] // issuer DER subject + serial
	stamps  []fileStamp                         // only Watch's goroutine touches it after NewCRLSet
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// NewCRLSet loads files, accepting CRLs signed by one of issuers.
func NewCRLSet(files []string, issuers []*x509.Certificate, log *slog.Logger) (*CRLSet, error) {
	s := &CRLSet{files: files, issuers: issuers, log: log}
	m, stamps, err := s.load()
	if err != nil {
		return nil, err
	}
	s.revoked.Store(&m)
	s.stamps = stamps
	return s, nil
}

func (s *CRLSet) load() (map[string]struct{}, []fileStamp, error) {
	m := map[string]struct{}{}
	var stamps []fileStamp
	for _, f := range s.files {
		fi, err := os.Stat(f)
		if err != nil {
			return nil, nil, fmt.Errorf("reading CRL: %w", err)
		}
		stamps = append(stamps, fileStamp{fi.ModTime(), fi.Size()})
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("reading CRL: %w", err)
		}
		if b, _ := pem.Decode(data); b != nil {
			if b.Type != "X509 CRL" {
				return nil, nil, fmt.Errorf("%s holds a %s, not an X509 CRL", f, b.Type)
			}
			data = b.Bytes
		}
		crl, err := x509.ParseRevocationList(data)
		if err != nil {
			return nil, nil, fmt.Errorf("parsing CRL %s: %w", f, err)
		}
		if err := s.checkSignature(crl); err != nil {
			return nil, nil, fmt.Errorf("CRL %s: %w", f, err)
		}
		if time.Now().After(crl.NextUpdate) && !crl.NextUpdate.IsZero() {
			s.log.Warn("CRL is past its next update: publish a new one", "crl", f, "next_update", crl.NextUpdate)
		}
		for _, e := range crl.RevokedCertificateEntries {
			m[key(crl.RawIssuer, e.SerialNumber.Bytes())] = struct{}{}
		}
	}
	return m, stamps, nil
}

func (s *CRLSet) checkSignature(crl *x509.RevocationList) error {
	for _, c := range s.issuers {
		if bytes.Equal(c.RawSubject, crl.RawIssuer) {
			if err := crl.CheckSignatureFrom(c); err == nil {
				return nil
			}
		}
	}
	return errors.New("not signed by any trusted client CA")
}

func key(rawIssuer, serial []byte) string { return string(rawIssuer) + "\x00" + string(serial) }

// Revoked reports whether leaf is on a loaded CRL.
func (s *CRLSet) Revoked(leaf *x509.Certificate) bool {
	_, ok := (*s.revoked.Load())[key(leaf.RawIssuer, leaf.SerialNumber.Bytes())]
	return ok
}

// Watch re-reads the files every interval while ctx lasts, when any of
// them changed size or modification time.
func (s *CRLSet) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !s.changed() {
			continue
		}
		m, stamps, err := s.load()
		if err != nil {
			s.log.Error("CRL change refused, the previous revocation list stays in force", "err", err)
			s.stamps = s.current() // do not retry the same broken file every tick
			continue
		}
		s.revoked.Store(&m)
		s.stamps = stamps
		s.log.Info("CRL reloaded", "files", s.files, "revoked", len(m))
	}
}

func (s *CRLSet) current() []fileStamp {
	var out []fileStamp
	for _, f := range s.files {
		fi, err := os.Stat(f)
		if err != nil {
			out = append(out, fileStamp{})
			continue
		}
		out = append(out, fileStamp{fi.ModTime(), fi.Size()})
	}
	return out
}

func (s *CRLSet) changed() bool {
	cur := s.current()
	for i := range cur {
		if i >= len(s.stamps) || cur[i] != s.stamps[i] {
			return true
		}
	}
	return false
}
