package ca

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tlsgate/tlsgate/internal/atomicfile"
)

// Record is what the CA remembers of a certificate issued with
// IssueRecorded: enough to list it, revoke it and put it on a CRL. Each
// record is its own file, written to a temporary name and renamed into
// place, so a crash never leaves a half-written record.
type Record struct {
	Serial    string     `json:"serial"` // lower-case hex, as `openssl x509 -serial` prints it
	Kind      string     `json:"kind"`   // "server" or "client"
	Subject   string     `json:"subject"`
	DNS       []string   `json:"dns,omitempty"`
	IPs       []string   `json:"ips,omitempty"`
	URIs      []string   `json:"uris,omitempty"`
	NotBefore time.Time  `json:"not_before"`
	NotAfter  time.Time  `json:"not_after"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// Reason is an RFC 5280 reason name (see ReasonNames). Records written
	// by older versions may hold free text; see ReasonCode.
	Reason string `json:"reason,omitempty"`
}

// Status is "revoked", "expired" or "valid" at now.
func (r Record) Status(now time.Time) string {
	switch {
	case r.RevokedAt != nil:
		return "revoked"
	case now.After(r.NotAfter):
		return "expired"
	}
	return "valid"
}

// DaysLeft is the number of days until NotAfter at now, rounded, so that a
// 30-day certificate issued a second ago shows 30; negative once expired.
func (r Record) DaysLeft(now time.Time) int {
	return int(math.Round(r.NotAfter.Sub(now).Hours() / 24))
}

const issuedDir = "issued"

// ErrUnknownSerial is returned by Revoke for a serial the CA never issued.
var ErrUnknownSerial = errors.New("no certificate with that serial was issued by this CA")

// IssueRecorded issues a certificate like Issue and records it (record and
// certificate PEM under issued/), so it can be listed and revoked.
func (a *Authority) IssueRecorded(l Leaf) (*tls.Certificate, *Record, error) {
	cert, err := a.Issue(l)
	if err != nil {
		return nil, nil, err
	}
	leaf := cert.Leaf
	rec := &Record{
		Serial:    leaf.SerialNumber.Text(16),
		Kind:      "server",
		Subject:   leaf.Subject.String(),
		DNS:       leaf.DNSNames,
		NotBefore: leaf.NotBefore,
		NotAfter:  leaf.NotAfter,
	}
	if l.Client {
		rec.Kind = "client"
	}
	for _, ip := range leaf.IPAddresses {
		rec.IPs = append(rec.IPs, ip.String())
	}
	for _, u := range leaf.URIs {
		rec.URIs = append(rec.URIs, u.String())
	}
	dir := filepath.Join(a.dir, issuedDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("recording certificate: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, rec.Serial+".pem"), pemCert(leaf.Raw), 0o644); err != nil {
		return nil, nil, err
	}
	if err := a.writeRecord(rec); err != nil {
		return nil, nil, err
	}
	return cert, rec, nil
}

func (a *Authority) writeRecord(rec *Record) error {
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(a.dir, issuedDir, rec.Serial+".json"), append(data, '\n'), 0o644)
}

// List returns every recorded certificate, soonest expiry first.
func (a *Authority) List() ([]Record, error) {
	entries, err := os.ReadDir(filepath.Join(a.dir, issuedDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing issued certificates: %w", err)
	}
	var out []Record
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue // temporary files of an interrupted write are ignored
		}
		data, err := os.ReadFile(filepath.Join(a.dir, issuedDir, name))
		if err != nil {
			return nil, err
		}
		var r Record
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("reading %s: %w", filepath.Join(a.dir, issuedDir, name), err)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NotAfter.Before(out[j].NotAfter) })
	return out, nil
}

// NormalizeSerial accepts a serial as hex with or without colons or a 0x
// prefix, in any case, and returns the form records use.
func NormalizeSerial(s string) (string, error) {
	s = strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(strings.TrimSpace(s), "0x"), ":", ""))
	n, ok := new(big.Int).SetString(s, 16)
	if !ok || n.Sign() <= 0 {
		return "", fmt.Errorf("%q is not a certificate serial number (hex, as 'tlsgate ca list' shows it)", s)
	}
	return n.Text(16), nil
}

// Revoke marks a recorded certificate revoked, for reason (one of
// ReasonNames, any case; empty means unspecified). It takes effect for
// relying parties when they load the next CRL (see CRL), whose entry
// carries the reason code.
func (a *Authority) Revoke(serial, reason string) (*Record, error) {
	reason, _, err := ParseReason(reason)
	if err != nil {
		return nil, err
	}
	serial, err = NormalizeSerial(serial)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(a.dir, issuedDir, serial+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("revoking %s: %w", serial, ErrUnknownSerial)
	}
	if err != nil {
		return nil, fmt.Errorf("revoking %s: %w", serial, err)
	}
	var rec Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("revoking %s: %w", serial, err)
	}
	if rec.RevokedAt != nil {
		return &rec, fmt.Errorf("%s was already revoked on %s", serial, rec.RevokedAt.UTC().Format(time.RFC3339))
	}
	now := time.Now().UTC().Truncate(time.Second)
	rec.RevokedAt, rec.Reason = &now, reason
	if err := a.writeRecord(&rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

// CRLFile is where CRL writes the current revocation list (PEM).
const CRLFile = "crl.pem"

// CRL signs a new certificate revocation list with the intermediate,
// listing every revoked certificate that has not expired, valid for
// validity (zero: 7 days), writes it to CRLFile and returns it as PEM.
func (a *Authority) CRL(validity time.Duration) ([]byte, error) {
	if validity == 0 {
		validity = 7 * 24 * time.Hour
	}
	recs, err := a.List()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var entries []x509.RevocationListEntry
	for _, r := range recs {
		if r.RevokedAt == nil || now.After(r.NotAfter) {
			continue // an expired certificate is refused anyway; RFC 5280 lets the CRL drop it
		}
		n, _ := new(big.Int).SetString(r.Serial, 16)
		// ReasonCode 0 (unspecified) leaves the extension out, as RFC 5280,
		// 5.3.1 asks.
		entries = append(entries, x509.RevocationListEntry{SerialNumber: n, RevocationTime: *r.RevokedAt, ReasonCode: r.ReasonCode()})
	}
	number, err := a.nextCRLNumber()
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	issuer, key := a.intermediate, a.intermediateKey
	a.mu.Unlock()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    number,
		ThisUpdate:                now.Add(-backdate),
		NextUpdate:                now.Add(validity),
		RevokedCertificateEntries: entries,
	}, issuer, key)
	if err != nil {
		return nil, fmt.Errorf("signing CRL: %w", err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	if err := atomicfile.Write(filepath.Join(a.dir, CRLFile), out, 0o644); err != nil {
		return nil, err
	}
	return out, nil
}

// nextCRLNumber increments the CRL number kept in crlnumber: relying
// parties use it to tell a newer CRL from an older one.
func (a *Authority) nextCRLNumber() (*big.Int, error) {
	p := filepath.Join(a.dir, "crlnumber")
	n := int64(0)
	if data, err := os.ReadFile(p); err == nil {
		if n, err = strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64); err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	n++
	if err := atomicfile.Write(p, []byte(strconv.FormatInt(n, 10)+"\n"), 0o644); err != nil {
		return nil, err
	}
	return big.NewInt(n), nil
}

// ChainPEM returns the intermediate followed by the root, the bundle that
// verifies what the Authority issues and its CRLs.
func (a *Authority) ChainPEM() []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append(append([]byte(nil), a.intermediatePEM...), a.rootPEM...)
}

// Intermediate returns the signing intermediate.
func (a *Authority) Intermediate() *x509.Certificate {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.intermediate
}

// Intermediates returns the signing intermediate and, when a renewal
// replaced one that is still valid, that one too: every intermediate that
// signed leaves still in use. A verifier that completes the chains of
// clients sending only their leaf needs them all.
func (a *Authority) Intermediates() []*x509.Certificate {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := []*x509.Certificate{a.intermediate}
	if a.previous != nil && time.Now().Before(a.previous.NotAfter) {
		out = append(out, a.previous)
	}
	return out
}

// IntermediatePEM returns the signing intermediate in PEM form.
func (a *Authority) IntermediatePEM() []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.intermediatePEM
}
