package certs_test

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tlsgate/tlsgate/internal/ca"
	"github.com/tlsgate/tlsgate/internal/certs"
)

func TestInternalIssuesForHosts(t *testing.T) {
	t.Parallel()
	auth, err := ca.Init(filepath.Join(t.TempDir(), "ca"), "Test")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"example.com", "*.example.com", "127.0.0.1"}
	s, err := certs.NewInternal(auth, names, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := certs.Check(c, names, time.Now()); err != nil {
		t.Errorf("internal certificate: %v", err)
	}
	inters := x509.NewCertPool()
	for _, der := range c.Certificate[1:] {
		ic, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		inters.AddCert(ic)
	}
	for _, n := range []string{"example.com", "a.example.com", "127.0.0.1"} {
		if _, err := s.Leaf().Verify(x509.VerifyOptions{DNSName: n, Roots: auth.Pool(), Intermediates: inters}); err != nil {
			t.Errorf("verifying for %s: %v", n, err)
		}
	}
	if d := s.Leaf().NotAfter.Sub(s.Leaf().NotBefore); d < certs.InternalValidity || d > certs.InternalValidity+10*time.Minute {
		t.Errorf("validity %v, want about %v", d, certs.InternalValidity)
	}

	if _, err := certs.NewInternal(auth, nil, discard()); err == nil {
		t.Error("NewInternal with no hosts succeeded")
	}
}

// TestInternalRenews runs the renewal loop on synctest's fake clock, with
// the CA itself made inside the bubble so that its clock agrees.
func TestInternalRenews(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		auth, err := ca.Init(filepath.Join(t.TempDir(), "ca"), "Test")
		if err != nil {
			t.Fatal(err)
		}
		logs := newLogRecorder()
		s, err := certs.NewInternal(auth, []string{"example.com"}, slog.New(logs))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() }) // in the bubble, so a failing test ends the loop too
		cur := s.Leaf()
		for i := range 3 {
			life := cur.NotAfter.Sub(cur.NotBefore)
			due := cur.NotBefore.Add(life * 2 / 3)
			time.Sleep(time.Until(due) - time.Second)
			synctest.Wait()
			if !sameLeaf(s.Leaf(), cur) {
				t.Fatalf("renewal %d happened before two thirds of the lifetime", i+1)
			}
			time.Sleep(2 * time.Second)
			synctest.Wait()
			next := s.Leaf()
			if sameLeaf(next, cur) {
				t.Fatalf("renewal %d: not renewed one second after it was due", i+1)
			}
			if !next.NotAfter.After(cur.NotAfter) || time.Until(next.NotAfter) < certs.InternalValidity-time.Minute {
				t.Errorf("renewal %d: new certificate ends %v, want a full validity from now", i+1, next.NotAfter)
			}
			if err := certs.Check(&tls.Certificate{Certificate: [][]byte{next.Raw}, Leaf: next}, []string{"example.com"}, time.Now()); err != nil {
				t.Errorf("renewal %d: %v", i+1, err)
			}
			cur = next
		}
		if n := logs.count("internal certificate renewed"); n != 3 {
			t.Errorf("logged %d renewals, want 3", n)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		// Close ended the loop: no renewal happens any more.
		time.Sleep(30 * 24 * time.Hour)
		if !sameLeaf(s.Leaf(), cur) {
			t.Error("renewed after Close")
		}
	})
}
