package server

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tlsgate/tlsgate/internal/ca"
)

// crlPublisher answers the internal CA's CRL distribution point
// (ca.serve_crl) on the plain-HTTP listener: GET and HEAD of path get
// DATA_DIR/ca/crl.pem as DER, application/pkix-crl.
//
// It re-signs the CRL when the one on disk is missing, unreadable or past
// half its validity, so that relying parties that fetch it never get one
// past its next update while the gateway runs (an expired CRL makes
// strict clients, Windows among them, refuse every certificate of the CA).
// The file is read once per request: CRL fetches are rare and the file
// small, and a 'tlsgate ca crl' run beside the gateway shows at once.
type crlPublisher struct {
	path string
	auth *ca.Authority
	log  *slog.Logger
	mu   *sync.Mutex // the Server's crlMu: one signer at a time across reloads
}

func (p *crlPublisher) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "tlsgate: the CRL is fetched with GET", http.StatusMethodNotAllowed)
		return
	}
	der, crl, err := p.current(time.Now())
	if err != nil {
		p.log.Error("cannot serve the internal CA's CRL", "err", err)
		http.Error(w, "tlsgate: the CRL is unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	// Caches may keep it until the next update, no longer.
	if age := int(time.Until(crl.NextUpdate).Seconds()); age > 0 {
		w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", min(age, 3600)))
	}
	http.ServeContent(w, r, "", crl.ThisUpdate, bytes.NewReader(der))
}

// current returns the CRL to serve at now, signing a new one when due.
func (p *crlPublisher) current(now time.Time) ([]byte, *x509.RevocationList, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	file := filepath.Join(p.auth.Dir(), ca.CRLFile)
	data, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	der, crl, perr := parseCRL(data)
	validity := time.Duration(0) // the CA's default
	if perr == nil {
		validity = crl.NextUpdate.Sub(crl.ThisUpdate).Round(time.Hour)
		if now.Before(crl.ThisUpdate.Add(crl.NextUpdate.Sub(crl.ThisUpdate) / 2)) {
			return der, crl, nil
		}
	}
	if data, err = p.auth.CRL(validity); err != nil {
		return nil, nil, err
	}
	p.log.Info("signed a new CRL for the distribution point", "crl", file)
	return parseCRL(data)
}

func parseCRL(data []byte) ([]byte, *x509.RevocationList, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "X509 CRL" {
		return nil, nil, errors.New("no PEM CRL")
	}
	crl, err := x509.ParseRevocationList(b.Bytes)
	if err != nil {
		return nil, nil, err
	}
	return b.Bytes, crl, nil
}
