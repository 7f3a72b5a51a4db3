package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tlsgate/tlsgate/internal/dns01"
	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// TestECHFleet: two gateways sharing etcd decrypt each other's clients:
// the config gateway A publishes is accepted by gateway B, before and
// after a rotation made on A.
func TestECHFleet(t *testing.T) {
	storage, _ := etcdStorage(t)
	etcdYAML := "ech: {public_name: public.example.test}\n" + storage
	a := newECHFixture(t, etcdYAML)
	b := newECHFixture(t, etcdYAML)

	check := func(what string) {
		t.Helper()
		list := a.g.srv.ECHConfigList()
		if len(list) == 0 {
			t.Fatal("gateway A has no ECH config")
		}
		// B applies the fleet's ring through its etcd watch.
		deadline := time.Now().Add(15 * time.Second)
		for !bytes.Equal(b.g.srv.ECHConfigList(), list) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: gateway B does not use gateway A's ECH config after 15s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
		r, err := b.get(t, &tls.Config{EncryptedClientHelloConfigList: list}, "api.example.test", "/")
		if err != nil || !r.cs.ECHAccepted {
			t.Fatalf("%s: gateway B with gateway A's config: %v", what, err)
		}
	}
	check("first ring")
	old := a.g.srv.ECHConfigList()
	if err := a.g.srv.RotateECH(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("after rotation")
	// The previous config still decrypts on B during the grace period.
	if r, err := b.get(t, &tls.Config{EncryptedClientHelloConfigList: old}, "api.example.test", "/"); err != nil || !r.cs.ECHAccepted {
		t.Fatalf("gateway B with the previous config: %v", err)
	}
	// QUIC's stateless reset key is the fleet's too: a client whose
	// packets reach another gateway believes its reset.
	if ta, tb := resetToken(t, a.g.udp(t)), resetToken(t, b.g.udp(t)); !bytes.Equal(ta, tb) {
		t.Errorf("gateways of one fleet make different stateless reset tokens (%x, %x)", ta, tb)
	}
}

// TestECHPublishKnot: with ech.publish and an rfc2136 acme.dns, the
// gateway keeps the HTTPS record that real Knot DNS serves current: the
// record carries the config in use, and a rotation replaces it. A client
// taking the config from the record connects with ECH.
func TestECHPublishKnot(t *testing.T) {
	dir := t.TempDir()
	k := testpeer.StartKnot(t, filepath.Join(dir, "knot"), testpeer.KnotZone{Name: "example.test"})
	f := newECHFixture(t, fmt.Sprintf(`ech:
  public_name: public.example.test
  publish: {zone: example.test, names: [api.example.test], ttl: 60s}
acme:
  dns: {provider: rfc2136, server: %q, key_name: %q, key_file: %q}`, k.Addr, k.KeyName, k.SecretFile))

	record := func(want []byte) []byte {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			got, err := dns01.LookupECH(ctx, k.Addr, "api.example.test")
			cancel()
			if err == nil && bytes.Equal(got, want) {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("Knot serves ech=%x (err %v), want the gateway's current config %x", got, err, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	before := record(f.g.srv.ECHConfigList())
	// HTTP/3 is on (the default): the record tells clients they may go
	// straight to QUIC.
	if alpn := recordALPN(t, k.Addr, "api.example.test"); !slices.Equal(alpn, []string{"h3", "h2", "http/1.1"}) {
		t.Errorf("the HTTPS record's alpn is %q, want h3,h2,http/1.1", alpn)
	}
	r, err := f.get(t, &tls.Config{EncryptedClientHelloConfigList: before}, "api.example.test", "/")
	if err != nil || !r.cs.ECHAccepted {
		t.Fatalf("client with the config from DNS: %v", err)
	}
	if err := f.g.srv.RotateECH(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := record(f.g.srv.ECHConfigList())
	if bytes.Equal(before, after) {
		t.Fatal("the record did not change on rotation")
	}
	if r, err := f.get(t, &tls.Config{EncryptedClientHelloConfigList: after}, "api.example.test", "/"); err != nil || !r.cs.ECHAccepted {
		t.Fatalf("client with the rotated config from DNS: %v", err)
	}

	// Turned off by a reload: the record stays, without its ech= value.
	yaml, err := os.ReadFile(f.g.configPath)
	if err != nil {
		t.Fatal(err)
	}
	off := strings.Replace(string(yaml), "  public_name: public.example.test\n", "  enabled: false\n", 1)
	if off == string(yaml) {
		t.Fatal("the fixture's config changed shape")
	}
	if err := os.WriteFile(f.g.configPath, []byte(off), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.g.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	record(nil)
	if alpn := recordALPN(t, k.Addr, "api.example.test"); len(alpn) == 0 {
		t.Error("the HTTPS record went away with ECH; only its ech= value should")
	}
}

// recordALPN is the alpn of name's HTTPS record on server.
func recordALPN(t *testing.T, server, name string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeHTTPS)
	r, err := dns.Exchange(m, server)
	if err != nil {
		t.Fatal(err)
	}
	for _, rr := range r.Answer {
		if h, ok := rr.(*dns.HTTPS); ok {
			for _, kv := range h.Value {
				if a, ok := kv.(*dns.SVCBAlpn); ok {
					return a.Alpn
				}
			}
		}
	}
	return nil
}

// etcdStorage starts a one-member etcd and returns the storage config of
// gateways sharing it (one storage key) and the etcd.
func etcdStorage(t *testing.T) (string, *testpeer.Etcd) {
	t.Helper()
	dir := t.TempDir()
	e := testpeer.StartEtcd(t, filepath.Join(dir, "etcd"), 1)
	key := filepath.Join(dir, "storage.key")
	os.WriteFile(key, []byte(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))), 0o600)
	endpoints, _ := json.Marshal(e.Endpoints)
	return fmt.Sprintf("storage: {etcd: {endpoints: %s, encryption_key_file: %s}}", endpoints, key), e
}

// waitOneECHKey waits until g decrypts with its current ECH key alone
// (the previous ones' grace is over), and fails with why after within.
func waitOneECHKey(t *testing.T, g *gateway, within time.Duration, why string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for len(g.srv.ech.keys.Ring().Keys) > 1 {
		if time.Now().After(deadline) {
			t.Fatal(why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
