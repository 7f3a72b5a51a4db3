package certs_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/certs"
	"github.com/tlsgate/tlsgate/internal/pkitest"
)

var hosts = []string{"example.com", "www.example.com"}

// logRecorder is a slog.Handler that keeps messages for tests to wait on.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
	cond chan struct{} // closed and replaced on each message
}

func newLogRecorder() *logRecorder { return &logRecorder{cond: make(chan struct{})} }

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	close(r.cond)
	r.cond = make(chan struct{})
	return nil
}

func (r *logRecorder) count(msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

// waitFor waits until msg has been logged n times.
func (r *logRecorder) waitFor(t *testing.T, msg string, n int) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		c := r.cond
		r.mu.Unlock()
		if r.count(msg) >= n {
			return
		}
		select {
		case <-c:
		case <-deadline:
			t.Fatalf("no %q log line within 5s; got %q", msg, r.msgs)
		}
	}
}

type pair struct{ cert, key string }

func newPair(t *testing.T, dir string, c *tls.Certificate) pair {
	t.Helper()
	cf, kf := pkitest.WriteFiles(t, dir, "site", c)
	return pair{cf, kf}
}

// replace swaps the files for c's by write-then-rename, as certbot and
// most deployment tools do: the key first, then the certificate.
func (p pair) replace(t *testing.T, c *tls.Certificate) {
	t.Helper()
	certPEM, keyPEM := pkitest.EncodePEM(t, c)
	for _, f := range []struct {
		path string
		data []byte
		perm os.FileMode
	}{{p.key, keyPEM, 0o600}, {p.cert, certPEM, 0o644}} {
		tmp := filepath.Join(filepath.Dir(f.path), ".tmp-"+filepath.Base(f.path))
		writeFile(t, tmp, f.data, f.perm)
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func sameLeaf(a, b *x509.Certificate) bool { return a != nil && b != nil && a.Equal(b) }

func served(t *testing.T, s certs.Source) *x509.Certificate {
	t.Helper()
	for {
		c, err := s.GetCertificate(&tls.ClientHelloInfo{ServerName: "example.com"})
		if err != nil || c == nil {
			t.Fatalf("GetCertificate = %v, %v", c, err)
		}
		leaf := s.Leaf()
		again, _ := s.GetCertificate(&tls.ClientHelloInfo{ServerName: "example.com"})
		if again != c {
			continue // a reload between the calls (the watch tests): look again
		}
		if !sameLeaf(c.Leaf, leaf) {
			t.Fatal("GetCertificate and Leaf disagree")
		}
		return c.Leaf
	}
}

// waitServed polls until s serves want, for at most 5 seconds.
func waitServed(t *testing.T, s certs.Source, want *x509.Certificate) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !sameLeaf(served(t, s), want) {
		if time.Now().After(deadline) {
			t.Fatalf("still serving serial %x after 5s, want %x", served(t, s).SerialNumber, want.SerialNumber)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNewFiles(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "Test CA")
	good := ca.Issue(t, pkitest.Leaf{Names: hosts})
	p := newPair(t, t.TempDir(), good)
	f, err := certs.NewFiles(p.cert, p.key, hosts, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !sameLeaf(served(t, f), good.Leaf) {
		t.Error("NewFiles does not serve the certificate in the files")
	}
	if err := f.Close(); err != nil {
		t.Errorf("Close without Watch: %v", err)
	}

	_, err = certs.NewFiles(p.cert, p.key, []string{"example.com", "api.example.com"}, discard())
	if err == nil || !strings.Contains(err.Error(), "does not cover api.example.com") || !strings.Contains(err.Error(), p.cert) {
		t.Errorf("NewFiles for a host the certificate lacks: err = %v, want one naming the file and the host", err)
	}
}

func TestFilesReload(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "Test CA")
	other := pkitest.NewCA(t, "Other CA")
	now := time.Now()
	bad := []struct {
		name    string
		write   func(t *testing.T, p pair)
		wantErr string
	}{
		{"expired", func(t *testing.T, p pair) {
			p.replace(t, ca.Issue(t, pkitest.Leaf{Names: hosts, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)}))
		}, "expired"},
		{"not yet valid", func(t *testing.T, p pair) {
			p.replace(t, ca.Issue(t, pkitest.Leaf{Names: hosts, NotBefore: now.Add(time.Hour), NotAfter: now.Add(48 * time.Hour)}))
		}, "not valid before"},
		{"wrong host", func(t *testing.T, p pair) {
			p.replace(t, ca.Issue(t, pkitest.Leaf{Names: []string{"example.com"}}))
		}, "does not cover www.example.com"},
		{"mismatched", func(t *testing.T, p pair) {
			certPEM, _ := pkitest.EncodePEM(t, ca.Issue(t, pkitest.Leaf{Names: hosts}))
			writeFile(t, p.cert, certPEM, 0o644)
		}, "does not match"},
		{"world-readable key", func(t *testing.T, p pair) {
			p.replace(t, other.Issue(t, pkitest.Leaf{Names: hosts}))
			if err := os.Chmod(p.key, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "chmod 600"},
		{"truncated", func(t *testing.T, p pair) {
			writeFile(t, p.cert, nil, 0o644)
		}, "no PEM certificate"},
		{"deleted", func(t *testing.T, p pair) {
			os.Remove(p.cert)
		}, "reading certificate"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			first := ca.Issue(t, pkitest.Leaf{Names: hosts})
			p := newPair(t, t.TempDir(), first)
			f, err := certs.NewFiles(p.cert, p.key, hosts, discard())
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			tt.write(t, p)
			changed, err := f.Reload()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Reload = %v, want an error containing %q", err, tt.wantErr)
			}
			if changed {
				t.Error("Reload reported a change after refusing the files")
			}
			if !sameLeaf(served(t, f), first.Leaf) {
				t.Error("a refused certificate went live")
			}
		})
	}

	t.Run("good", func(t *testing.T) {
		t.Parallel()
		first := ca.Issue(t, pkitest.Leaf{Names: hosts})
		p := newPair(t, t.TempDir(), first)
		f, err := certs.NewFiles(p.cert, p.key, hosts, discard())
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if changed, err := f.Reload(); err != nil || changed {
			t.Errorf("Reload of unchanged files = %v, %v; want false, nil", changed, err)
		}
		// A certificate from another CA, with an RSA key this time.
		second := other.Issue(t, pkitest.Leaf{Names: append([]string{"extra.example.com"}, hosts...), RSA: true})
		p.replace(t, second)
		if changed, err := f.Reload(); err != nil || !changed {
			t.Fatalf("Reload of new files = %v, %v; want true, nil", changed, err)
		}
		if !sameLeaf(served(t, f), second.Leaf) {
			t.Error("the new certificate is not served")
		}
		if changed, err := f.Reload(); err != nil || changed {
			t.Errorf("second Reload = %v, %v; want false, nil", changed, err)
		}
	})
}

func TestFilesWatch(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "Test CA")
	first := ca.Issue(t, pkitest.Leaf{Names: hosts})
	p := newPair(t, t.TempDir(), first)
	logs := newLogRecorder()
	f, err := certs.NewFiles(p.cert, p.key, hosts, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Watch(); err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			f.Close()
		}
	}()

	// A good replacement goes live.
	second := ca.Issue(t, pkitest.Leaf{Names: hosts})
	p.replace(t, second)
	waitServed(t, f, second.Leaf)
	logs.waitFor(t, "certificate reloaded", 1)

	// A bad one (the wrong host) is refused; the previous one stays.
	p.replace(t, ca.Issue(t, pkitest.Leaf{Names: []string{"example.com"}}))
	logs.waitFor(t, "certificate change refused, still serving the previous one", 1)
	if !sameLeaf(served(t, f), second.Leaf) {
		t.Fatal("a refused certificate went live")
	}

	// Fixing the files is picked up again.
	third := ca.Issue(t, pkitest.Leaf{Names: hosts})
	p.replace(t, third)
	waitServed(t, f, third.Leaf)

	// Close returns (the watch goroutine has ended) and stops reloading.
	done := make(chan error, 1)
	go func() { done <- f.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return within 5s")
	}
	closed = true
	p.replace(t, ca.Issue(t, pkitest.Leaf{Names: hosts}))
	time.Sleep(600 * time.Millisecond) // more than twice the settle time
	if !sameLeaf(served(t, f), third.Leaf) {
		t.Error("files were reloaded after Close")
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestFilesWatchSymlinkSwap follows a Kubernetes secret volume, where the
// files are symlinks through a ..data symlink that is swapped atomically.
func TestFilesWatchSymlinkSwap(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "Test CA")
	dir := t.TempDir()
	version := 0
	publish := func(c *tls.Certificate) {
		version++
		vdir := fmt.Sprintf("..v%d", version)
		if err := os.Mkdir(filepath.Join(dir, vdir), 0o700); err != nil {
			t.Fatal(err)
		}
		pkitest.WriteFiles(t, filepath.Join(dir, vdir), "tls", c)
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(vdir, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	first := ca.Issue(t, pkitest.Leaf{Names: hosts})
	publish(first)
	for _, n := range []string{"tls.pem", "tls.key"} {
		if err := os.Symlink(filepath.Join("..data", n), filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	f, err := certs.NewFiles(filepath.Join(dir, "tls.pem"), filepath.Join(dir, "tls.key"), hosts, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Watch(); err != nil {
		t.Fatal(err)
	}
	second := ca.Issue(t, pkitest.Leaf{Names: hosts})
	publish(second)
	waitServed(t, f, second.Leaf)
}
