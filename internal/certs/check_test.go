package certs_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/certs"
	"github.com/tlsgate/tlsgate/internal/pkitest"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "Test CA")
	now := time.Now()
	tests := []struct {
		name    string
		leaf    pkitest.Leaf
		hosts   []string
		wantErr string // "" for no error
	}{
		{"valid", pkitest.Leaf{Names: []string{"example.com"}}, []string{"example.com"}, ""},
		{"no hosts", pkitest.Leaf{Names: []string{"example.com"}}, nil, ""},
		{"expired", pkitest.Leaf{Names: []string{"example.com"}, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)}, []string{"example.com"}, "expired"},
		{"not yet valid", pkitest.Leaf{Names: []string{"example.com"}, NotBefore: now.Add(time.Hour), NotAfter: now.Add(48 * time.Hour)}, []string{"example.com"}, "not valid before"},
		{"missing host", pkitest.Leaf{Names: []string{"example.com"}}, []string{"example.com", "www.example.com", "api.example.com"}, "does not cover www.example.com, api.example.com (it covers: example.com)"},
		{"wildcard cert covers one label", pkitest.Leaf{Names: []string{"*.example.com"}}, []string{"a.example.com", "b.example.com"}, ""},
		{"wildcard cert not apex", pkitest.Leaf{Names: []string{"*.example.com"}}, []string{"example.com"}, "does not cover example.com"},
		{"wildcard cert not two labels", pkitest.Leaf{Names: []string{"*.example.com"}}, []string{"a.b.example.com"}, "does not cover a.b.example.com"},
		{"wildcard host needs wildcard cert", pkitest.Leaf{Names: []string{"a.example.com", "b.example.com"}}, []string{"*.example.com"}, "does not cover *.example.com"},
		{"wildcard host with wildcard cert", pkitest.Leaf{Names: []string{"*.Example.com"}}, []string{"*.example.com"}, ""},
		{"wildcard host other domain", pkitest.Leaf{Names: []string{"*.example.org"}}, []string{"*.example.com"}, "does not cover"},
		{"ip san", pkitest.Leaf{Names: []string{"127.0.0.1", "::1"}}, []string{"127.0.0.1", "::1"}, ""},
		{"ipv4-mapped host", pkitest.Leaf{Names: []string{"127.0.0.1"}}, []string{"::ffff:127.0.0.1"}, ""},
		{"other ip", pkitest.Leaf{Names: []string{"127.0.0.1"}}, []string{"127.0.0.2"}, "does not cover 127.0.0.2 (it covers: 127.0.0.1)"},
		{"ip host, dns cert", pkitest.Leaf{Names: []string{"localhost"}}, []string{"127.0.0.1"}, "does not cover 127.0.0.1"},
		{"no names at all", pkitest.Leaf{}, []string{"example.com"}, "it covers: no DNS or IP names"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cert := ca.Issue(t, tt.leaf)
			for _, withLeaf := range []bool{true, false} {
				c := *cert
				if !withLeaf {
					c.Leaf = nil // Check parses the DER itself
				}
				err := certs.Check(&c, tt.hosts, now)
				switch {
				case tt.wantErr == "" && err != nil:
					t.Errorf("Check (leaf set: %v) = %v, want nil", withLeaf, err)
				case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
					t.Errorf("Check (leaf set: %v) = %v, want an error containing %q", withLeaf, err, tt.wantErr)
				}
			}
		})
	}
}

func TestCheckValidityBoundaries(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "Test CA")
	nb := time.Now().Add(-time.Hour).Truncate(time.Second)
	na := nb.Add(2 * time.Hour)
	cert := ca.Issue(t, pkitest.Leaf{Names: []string{"example.com"}, NotBefore: nb, NotAfter: na})
	for _, tc := range []struct {
		at time.Time
		ok bool
	}{
		{nb.Add(-time.Second), false},
		{nb, true},
		{na, true},
		{na.Add(time.Second), false},
	} {
		if err := certs.Check(cert, nil, tc.at); (err == nil) != tc.ok {
			t.Errorf("Check at %v: err = %v, want ok=%v", tc.at, err, tc.ok)
		}
	}
}

func TestLoadFiles(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "Test CA")
	certA := ca.Issue(t, pkitest.Leaf{Names: []string{"a.example.com"}})
	certB := ca.Issue(t, pkitest.Leaf{Names: []string{"b.example.com"}, RSA: true})
	pemA, keyA := pkitest.EncodePEM(t, certA)
	_, keyB := pkitest.EncodePEM(t, certB)

	type files struct {
		cert, key         []byte
		certMode, keyMode os.FileMode
		noCert, noKey     bool
	}
	tests := []struct {
		name    string
		files   files
		wantErr string
		wantIs  error
	}{
		{name: "good", files: files{cert: pemA, key: keyA}},
		{name: "group-readable key is allowed", files: files{cert: pemA, key: keyA, keyMode: 0o640}},
		{name: "missing cert", files: files{key: keyA, noCert: true}, wantErr: "reading certificate", wantIs: fs.ErrNotExist},
		{name: "missing key", files: files{cert: pemA, noKey: true}, wantErr: "reading key", wantIs: fs.ErrNotExist},
		{name: "world-readable key", files: files{cert: pemA, key: keyA, keyMode: 0o644}, wantErr: "has mode 0644", wantIs: certs.ErrKeyPermissions},
		{name: "swapped", files: files{cert: keyA, key: pemA}, wantErr: "swapped"},
		{name: "key in both", files: files{cert: keyA, key: keyA}, wantErr: "holds a private key, not a certificate (are cert: and key: swapped?)"},
		{name: "cert in both", files: files{cert: pemA, key: pemA}, wantErr: "holds a certificate, not a private key (are cert: and key: swapped?)"},
		{name: "mismatched", files: files{cert: pemA, key: keyB}, wantErr: "does not match the certificate"},
		{name: "chain not leaf-first", files: files{cert: append(append([]byte{}, ca.PEM...), pemA...), key: keyA}, wantErr: "leaf-first"},
		{name: "cert not PEM", files: files{cert: []byte("hello"), key: keyA}, wantErr: "holds no PEM certificate"},
		{name: "key not PEM", files: files{cert: pemA, key: []byte("hello")}, wantErr: "holds no PEM private key"},
		{name: "empty cert", files: files{cert: []byte{}, key: keyA}, wantErr: "holds no PEM certificate"},
		{name: "corrupt key", files: files{cert: pemA, key: []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")}, wantErr: "loading"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "site.pem"), filepath.Join(dir, "site.key")
			if !tt.files.noCert {
				writeFile(t, certFile, tt.files.cert, cmp(tt.files.certMode, 0o644))
			}
			if !tt.files.noKey {
				writeFile(t, keyFile, tt.files.key, cmp(tt.files.keyMode, 0o600))
			}
			c, err := certs.LoadFiles(certFile, keyFile)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("LoadFiles: %v", err)
				}
				if c.Leaf == nil || c.Leaf.Subject.CommonName != "a.example.com" {
					t.Errorf("loaded leaf %v, want a.example.com", c.Leaf)
				}
				return
			}
			if err == nil {
				t.Fatalf("LoadFiles succeeded, want an error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q does not wrap %v", err, tt.wantIs)
			}
			if errors.Is(err, certs.ErrKeyPermissions) && !strings.Contains(err.Error(), "chmod 600 "+keyFile) {
				t.Errorf("error %q does not give the chmod fix", err)
			}
		})
	}
}

func cmp(m, def os.FileMode) os.FileMode {
	if m == 0 {
		return def
	}
	return m
}

// writeFile writes data with exactly perm, whatever the umask.
func writeFile(t *testing.T, path string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}

// TestKeyError checks that problems of the key file are *KeyError, so that
// config validate can point at key: rather than cert:, and others are not.
func TestKeyError(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "Test CA")
	pemA, keyA := pkitest.EncodePEM(t, ca.Issue(t, pkitest.Leaf{Names: []string{"a.example.com"}}))
	_, keyB := pkitest.EncodePEM(t, ca.Issue(t, pkitest.Leaf{Names: []string{"b.example.com"}}))
	tests := []struct {
		name      string
		cert, key []byte
		keyMode   os.FileMode
		keyFault  bool
	}{
		{"world-readable key", pemA, keyA, 0o644, true},
		{"mismatched", pemA, keyB, 0o600, true},
		{"key not PEM", pemA, []byte("hello"), 0o600, true},
		{"cert not PEM", []byte("hello"), keyA, 0o600, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "site.pem"), filepath.Join(dir, "site.key")
			writeFile(t, certFile, tt.cert, 0o644)
			writeFile(t, keyFile, tt.key, tt.keyMode)
			_, err := certs.LoadFiles(certFile, keyFile)
			if err == nil {
				t.Fatal("LoadFiles succeeded")
			}
			var ke *certs.KeyError
			if got := errors.As(err, &ke); got != tt.keyFault {
				t.Errorf("errors.As(%q, *KeyError) = %v, want %v", err, got, tt.keyFault)
			} else if got && ke.File != keyFile {
				t.Errorf("KeyError.File = %q, want %q", ke.File, keyFile)
			}
		})
	}
}

// TestCheckFilesReportsAll checks that a pair with a loose key mode, an
// expired certificate and a missing host is reported for all three at once.
func TestCheckFilesReportsAll(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "Test CA")
	now := time.Now()
	pemA, keyA := pkitest.EncodePEM(t, ca.Issue(t, pkitest.Leaf{Names: []string{"a.example.com"},
		NotBefore: now.Add(-30 * 24 * time.Hour), NotAfter: now.Add(-10*24*time.Hour - time.Hour)}))
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "site.pem"), filepath.Join(dir, "site.key")
	writeFile(t, certFile, pemA, 0o644)
	writeFile(t, keyFile, keyA, 0o644)
	_, err := certs.CheckFiles(certFile, keyFile, []string{"a.example.com", "b.example.com"}, now)
	if err == nil {
		t.Fatal("CheckFiles succeeded")
	}
	errs := err.(interface{ Unwrap() []error }).Unwrap()
	if len(errs) != 3 {
		t.Fatalf("got %d errors, want 3:\n%v", len(errs), err)
	}
	for i, want := range []string{"chmod 600", "(10 days ago)", "does not cover b.example.com"} {
		if !strings.Contains(errs[i].Error(), want) {
			t.Errorf("error %d %q does not contain %q", i, errs[i], want)
		}
	}
	var ke *certs.KeyError
	if !errors.As(errs[0], &ke) || !errors.Is(errs[0], certs.ErrKeyPermissions) {
		t.Errorf("mode error %q is not a *KeyError wrapping ErrKeyPermissions", errs[0])
	}
	for _, e := range errs[1:] {
		if errors.As(e, &ke) {
			t.Errorf("certificate error %q is a *KeyError", e)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{240 * time.Hour, "10 days"},
		{47 * time.Hour, "1 day"},
		{24 * time.Hour, "1 day"},
		{3*time.Hour + 59*time.Minute, "3 hours"},
		{time.Hour, "1 hour"},
		{25 * time.Minute, "25 minutes"},
		{time.Minute, "1 minute"},
		{59 * time.Second, "less than a minute"},
		{-48 * time.Hour, "2 days"},
	} {
		if got := certs.HumanDuration(tt.d); got != tt.want {
			t.Errorf("HumanDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
