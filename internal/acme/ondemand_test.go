package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/storage"
)

// TestOnDemandWaiterKeepsOrderSlot: a handshake that waits for another
// one's order of the same name, and gives up first, must not end that
// order's ticket: the order is still in flight, and its slot of
// max_concurrent must stay taken (and the name must not be put in
// back-off for an order that has not failed). The CA here never answers,
// so the first order stays in flight; the ask endpoint is real.
func TestOnDemandWaiterKeepsOrderSlot(t *testing.T) {
	t.Parallel()
	hang := make(chan struct{})
	ca := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
		http.Error(w, "gone", http.StatusServiceUnavailable)
	}))
	t.Cleanup(ca.Close)
	var mu sync.Mutex
	asked := map[string]int{}
	ask := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked[r.URL.Query().Get("domain")]++
		mu.Unlock()
	}))
	t.Cleanup(ask.Close)
	count := func(name string) int { mu.Lock(); defer mu.Unlock(); return asked[name] }

	log := slog.New(slog.DiscardHandler)
	m := NewManager(Options{Storage: storage.NewFile(t.TempDir(), log), Log: log})
	t.Cleanup(m.Close)
	od := config.OnDemand{Ask: ask.URL, MaxConcurrent: 1}
	od.Defaults()
	roots := x509.NewCertPool()
	roots.AddCert(ca.Certificate())
	src := m.Source(Settings{Directory: ca.URL + "/dir", Roots: roots, RootsID: "test", HTTP01: true, OnDemand: &od}, []string{"*"})
	m.Start(Ports{HTTP: 1, TLS: 2})

	handshake := func(ctx context.Context, name string) error {
		c, s := net.Pipe()
		defer c.Close()
		defer s.Close()
		go tls.Client(c, &tls.Config{ServerName: name, InsecureSkipVerify: true}).Handshake()
		return tls.Server(s, &tls.Config{GetCertificate: src.GetCertificate}).HandshakeContext(ctx)
	}
	first := make(chan struct{})
	go func() {
		defer close(first)
		handshake(context.Background(), "a.example.com") // its order hangs
	}()
	t.Cleanup(func() { // first of all: the hung order ends before the servers and storage go
		close(hang)
		select {
		case <-first:
		case <-time.After(30 * time.Second):
			t.Error("the first handshake did not end after the CA answered")
		}
	})
	for i := 0; count("a.example.com") == 0; i++ {
		if i == 100 {
			t.Fatal("the first handshake never asked about its name")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let it reach the CA

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := handshake(ctx, "a.example.com"); err == nil {
		t.Fatal("a handshake for a name whose order hangs succeeded")
	}
	// a.example.com's order is in flight: with max_concurrent 1 a new
	// name is refused before its ask.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := handshake(ctx2, "c.example.com"); err == nil {
		t.Fatal("a handshake for a new name succeeded against a CA that never answers")
	}
	if n := count("c.example.com"); n != 0 {
		t.Errorf("a new name was asked about (and admitted) while the one order max_concurrent allows was in flight: the waiter that gave up freed its slot")
	}
}
