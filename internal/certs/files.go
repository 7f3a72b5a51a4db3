package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Files serves a certificate from a PEM chain and key on disk and reloads it
// when either file changes (including replacement by rename or symlink swap,
// as certbot and Kubernetes do) or when Reload is called.
type Files struct {
	certFile, keyFile string
	hosts             []string
	log               *slog.Logger

	cur atomic.Pointer[tls.Certificate]

	reloadMu sync.Mutex // serialises Reload
	watcher  *fsnotify.Watcher
	cancel   context.CancelFunc
	done     chan struct{}
}

// NewFiles loads and checks the pair; it fails if they cannot serve hosts
// now, with every reason joined (see CheckFiles). Call Watch to follow changes.
func NewFiles(certFile, keyFile string, hosts []string, log *slog.Logger) (*Files, error) {
	f := &Files{certFile: certFile, keyFile: keyFile, hosts: hosts, log: log}
	cert, err := f.load()
	if err != nil {
		return nil, err
	}
	f.cur.Store(cert)
	f.warnIfExpiring(cert, time.Now())
	return f, nil
}

// ExpiryWarning is how close to its end a certificate from files makes
// tlsgate warn. certbot renews 30 days before expiry: 14 days left means
// renewal has been failing for two weeks and a human should look.
const ExpiryWarning = 14 * 24 * time.Hour

func (f *Files) warnIfExpiring(cert *tls.Certificate, now time.Time) {
	if left := cert.Leaf.NotAfter.Sub(now); left < ExpiryWarning {
		f.log.Warn("certificate expires soon: renew it", "cert", f.certFile,
			"not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339), "days_left", int(left.Hours()/24))
	}
}

func (f *Files) load() (*tls.Certificate, error) {
	cert, err := CheckFiles(f.certFile, f.keyFile, f.hosts, time.Now())
	if err != nil {
		return nil, err
	}
	return cert, nil
}

// Reload re-reads the files. If the new pair is unusable it returns the
// reason and the previous certificate keeps serving. It reports whether the
// certificate changed.
func (f *Files) Reload() (changed bool, err error) {
	f.reloadMu.Lock()
	defer f.reloadMu.Unlock()
	cert, err := f.load()
	if err != nil {
		return false, err
	}
	old := f.cur.Load()
	if old != nil && string(old.Certificate[0]) == string(cert.Certificate[0]) {
		return false, nil
	}
	f.cur.Store(cert)
	f.warnIfExpiring(cert, time.Now())
	return true, nil
}

// GetCertificate implements Source.
func (f *Files) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return f.cur.Load(), nil
}

// Leaf implements Source.
func (f *Files) Leaf() *x509.Certificate { return f.cur.Load().Leaf }

// Watch follows the files' directories and reloads after changes settle.
// Editors and tools write in several steps (truncate, write, rename), so
// events are debounced for a moment before reloading.
func (f *Files) Watch() error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching certificate files: %w", err)
	}
	dirs := map[string]bool{filepath.Dir(f.certFile): true, filepath.Dir(f.keyFile): true}
	for d := range dirs {
		if err := w.Add(d); err != nil {
			w.Close()
			return fmt.Errorf("watching %s: %w", d, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.watcher, f.cancel, f.done = w, cancel, make(chan struct{})
	go f.watch(ctx)
	return nil
}

const settle = 250 * time.Millisecond

func (f *Files) watch(ctx context.Context) {
	defer close(f.done)
	certBase, keyBase := filepath.Base(f.certFile), filepath.Base(f.keyFile)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case ev, ok := <-f.watcher.Events:
			if !ok {
				return
			}
			base := filepath.Base(ev.Name)
			// Kubernetes secret volumes swap a ..data symlink; watch for it too.
			if base == certBase || base == keyBase || base == "..data" {
				timer.Reset(settle)
			}
		case err, ok := <-f.watcher.Errors:
			if !ok {
				return
			}
			f.log.Warn("certificate watch error", "cert", f.certFile, "err", err)
		case <-timer.C:
			changed, err := f.Reload()
			switch {
			case err != nil:
				f.log.Error("certificate change refused, still serving the previous one", "cert", f.certFile, "err", err)
			case changed:
				leaf := f.cur.Load().Leaf
				f.log.Info("certificate reloaded", "cert", f.certFile, "serial", leaf.SerialNumber.Text(16), "not_after", leaf.NotAfter)
			}
		}
	}
}

// Close implements Source.
func (f *Files) Close() error {
	if f.watcher == nil {
		return nil
	}
	f.cancel()
	err := f.watcher.Close()
	<-f.done
	return err
}
