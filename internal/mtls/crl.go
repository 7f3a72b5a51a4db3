package mtls

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// CRLSet holds a site's certificate revocation lists. Files are re-read
// when they change (Watch); a CRL that fails to load or verify is refused
// with a log line and the previous lists stay in force.
//
// A CRL is applied only after its signature verifies with the key of a
// certificate that chains to a trusted client CA, and only to
// certificates whose issuer has the CRL's issuer name and either that key
// or (a CA renewed with a new key) the same trust anchor. So a CA that
// merely shares a name with a trusted one can neither revoke nor
// un-revoke anything, and two trusted hierarchies that reuse a name (say
// "Issuing CA") do not revoke each other's serials.
//
// Where the signer comes from:
//   - a certificate of the client_auth.ca files, or an extra signer given
//     to NewCRLSet (the internal CA's intermediate): the signature is
//     checked at load, and a CRL that names one of them as issuer but
//     does not verify is refused;
//   - an intermediate found nowhere in the configuration, as with
//     client_auth.ca set to the internal CA's root.pem and client_auth.crl
//     to the crl.pem `tlsgate ca crl` writes (signed by the intermediate):
//     the CRL is kept aside and its signature is checked against the
//     intermediate of a client's verified chain, the first time that chain
//     has a serial the CRL lists (the verdict is cached per CRL and
//     issuer key). It never applies to chains it does not verify against.
//
// Revoked (the CRL lookups of a request) is a few map lookups.
type CRLSet struct {
	files   []string
	signers []*signer // certificates whose CRLs are verified at load
	log     *slog.Logger

	snap   atomic.Pointer[crlSnapshot]
	stamps []fileStamp // only Watch's goroutine touches it after NewCRLSet
}

// signer is a certificate that may sign CRLs, with its trust anchors.
type signer struct {
	cert  *x509.Certificate
	scope [32]byte   // keyScope(cert)
	above [][32]byte // IDs of the trusted certificates it chains to (itself included when trusted)
}

// crlSnapshot is one load of every file. It is immutable but for the
// verdict caches of pending CRLs.
type crlSnapshot struct {
	revoked map[revKey]struct{}      // from CRLs verified at load
	pending map[string][]*pendingCRL // issuer name -> CRLs whose signer is not configured
	issuers []string                 // per file: the CRL's issuer name
	numbers []*big.Int               // per file: the CRL number (nil when absent)
	entries int                      // revoked serials, for the log
}

// pendingCRL is a CRL whose signer was not in the configuration at load.
type pendingCRL struct {
	file    string
	crl     *x509.RevocationList
	serials map[string]struct{}

	mu       sync.Mutex        // guards verdict
	verdicts map[[32]byte]bool // keyScope of an issuer -> the CRL verifies with its key
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// NewCRLSet loads files. cas are the site's trusted client CAs (every
// certificate of its client_auth.ca files and the internal CA's root);
// extra are further CA certificates allowed to sign CRLs, each of which
// must be signed by one of cas (the internal CA's intermediate).
func NewCRLSet(files []string, cas, extra []*x509.Certificate, log *slog.Logger) (*CRLSet, error) {
	s := &CRLSet{files: files, log: log}
	auth := newAuthorities(cas)
	for _, c := range cas {
		s.signers = append(s.signers, &signer{cert: c, scope: keyScope(c), above: auth.byDER[string(c.Raw)].above})
	}
	for _, c := range extra {
		if above := auth.closure(c); len(above) > 0 {
			s.signers = append(s.signers, &signer{cert: c, scope: keyScope(c), above: above})
		}
	}
	snap, stamps, err := s.load(nil)
	if err != nil {
		return nil, err
	}
	for _, ps := range snap.pending {
		for _, p := range ps {
			log.Info("CRL issuer is not among the client CAs: its signature is checked against the intermediate clients present; add that certificate to client_auth.ca to check it at start",
				"crl", p.file, "issuer", p.crl.Issuer.String())
		}
	}
	s.snap.Store(snap)
	s.stamps = stamps
	return s, nil
}

// load reads every file. prev, when set, is the snapshot in force: a file
// whose CRL cannot be verified now may not change issuer, or a swapped
// file would silently drop the revocations of the CRL it replaced.
func (s *CRLSet) load(prev *crlSnapshot) (*crlSnapshot, []fileStamp, error) {
	snap := &crlSnapshot{revoked: map[revKey]struct{}{}, pending: map[string][]*pendingCRL{}}
	var stamps []fileStamp
	for i, f := range s.files {
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
		for _, e := range crl.Extensions {
			// RFC 5280, 5.2: a CRL with a critical extension the reader
			// cannot process must not be used. A full CRL has none; a delta
			// CRL (delta CRL indicator) or a partitioned one (issuing
			// distribution point) taken as complete would drop revocations.
			if e.Critical {
				return nil, nil, fmt.Errorf("CRL %s has a critical extension %s that tlsgate does not process (a delta or partitioned CRL?): give the CA's full CRL", f, e.Id)
			}
		}
		if time.Now().After(crl.NextUpdate) && !crl.NextUpdate.IsZero() {
			s.log.Warn("CRL is past its next update: publish a new one", "crl", f, "next_update", crl.NextUpdate)
		}
		// An older CRL of the same issuer put back in place of a newer
		// one (a restored backup, or an attacker with write access to a
		// mirror) would silently un-revoke certificates: refused, and the
		// newer list stays in force.
		if prev != nil && i < len(prev.numbers) && prev.numbers[i] != nil && crl.Number != nil &&
			prev.issuers[i] == string(crl.RawIssuer) && crl.Number.Cmp(prev.numbers[i]) < 0 {
			return nil, nil, fmt.Errorf("CRL %s is number %v, older than number %v in force: refusing to roll revocations back", f, crl.Number, prev.numbers[i])
		}
		snap.issuers = append(snap.issuers, string(crl.RawIssuer))
		snap.numbers = append(snap.numbers, crl.Number)
		serials := map[string]struct{}{}
		for _, e := range crl.RevokedCertificateEntries {
			serials[string(e.SerialNumber.Bytes())] = struct{}{}
		}
		snap.entries += len(serials)

		named, verified := false, false
		for _, sg := range s.signers {
			if !bytes.Equal(sg.cert.RawSubject, crl.RawIssuer) {
				continue
			}
			named = true
			if crl.CheckSignatureFrom(sg.cert) != nil {
				continue
			}
			verified = true
			for serial := range serials {
				snap.revoked[revKey{sg.scope, serial}] = struct{}{}
				for _, a := range sg.above {
					snap.revoked[revKey{anchorScope(a, crl.RawIssuer), serial}] = struct{}{}
				}
			}
		}
		switch {
		case verified:
		case named:
			return nil, nil, fmt.Errorf("CRL %s: issued in the name of %q, but no client CA of that name signed it (is it from another CA with the same name, or was that CA renewed? add the certificate that signed it to client_auth.ca)", f, crl.Issuer.String())
		case prev != nil && i < len(prev.issuers) && prev.issuers[i] != string(crl.RawIssuer):
			return nil, nil, fmt.Errorf("CRL %s: now issued by %q, which is not among the client CAs, instead of the CA of the list in force (give each CA's CRL its own file, then reload)", f, crl.Issuer.String())
		default:
			snap.pending[string(crl.RawIssuer)] = append(snap.pending[string(crl.RawIssuer)],
				&pendingCRL{file: f, crl: crl, serials: serials, verdicts: map[[32]byte]bool{}})
		}
	}
	return snap, stamps, nil
}

// revoked reports whether the certificate l describes is on a CRL.
func (s *CRLSet) revoked(l *link) bool {
	snap := s.snap.Load()
	for _, k := range l.keys {
		if _, ok := snap.revoked[revKey{k, l.serial}]; ok {
			return true
		}
	}
	if l.issuer == nil || len(snap.pending) == 0 {
		return false
	}
	for _, p := range snap.pending[string(l.issuer.RawSubject)] {
		if _, ok := p.serials[l.serial]; ok && p.signedBy(l.issuer, l.issuerScope, s.log) {
			return true
		}
	}
	return false
}

// signedBy reports whether issuer's key (whose keyScope is scope) signed
// the CRL, checking the signature once per key.
func (p *pendingCRL) signedBy(issuer *x509.Certificate, scope [32]byte, log *slog.Logger) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ok, seen := p.verdicts[scope]
	if !seen {
		ok = p.crl.CheckSignatureFrom(issuer) == nil
		p.verdicts[scope] = ok
		if !ok {
			log.Warn("CRL not applied: the client's issuer of that name did not sign it (is it from another CA with the same name?)",
				"crl", p.file, "issuer", issuer.Subject.String())
		}
	}
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
		snap, stamps, err := s.load(s.snap.Load())
		if err != nil {
			s.log.Error("CRL change refused, the previous revocation list stays in force", "err", err)
			s.stamps = s.current() // do not retry the same broken file every tick
			continue
		}
		s.snap.Store(snap)
		s.stamps = stamps
		s.log.Info("CRL reloaded", "files", s.files, "revoked", snap.entries)
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
