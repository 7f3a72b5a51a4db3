package certs

import (
	"crypto/tls"
	"log/slog"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/ca"
)

// After a machine sleeps past a certificate's end, timers have not fired:
// the next handshake must get a fresh certificate, not the expired one.
func TestInternalReplacesExpiredOnHandshake(t *testing.T) {
	t.Parallel()
	auth, err := ca.Init(t.TempDir(), "sleep test")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewInternal(auth, []string{"localhost"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	expired, err := auth.Issue(ca.Leaf{Names: []string{"localhost"}, Validity: -time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !time.Now().After(expired.Leaf.NotAfter) {
		t.Fatalf("test certificate is not expired: %v", expired.Leaf.NotAfter)
	}
	s.cur.Store(expired)
	got, err := s.GetCertificate(&tls.ClientHelloInfo{ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if !time.Now().Before(got.Leaf.NotAfter) || got == expired {
		t.Fatalf("handshake got a certificate ending %v, want a fresh one", got.Leaf.NotAfter)
	}
	if s.Leaf() != got.Leaf {
		t.Fatal("the fresh certificate did not become current")
	}
}
