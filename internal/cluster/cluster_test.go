package cluster

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/pkitest"
	"github.com/tlsgate/tlsgate/internal/testpeer"
	"github.com/tlsgate/tlsgate/internal/tlspolicy"
)

// node opens a Cluster as one gateway of the fleet would.
func node(t *testing.T, endpoints []string, keyFile, name string) *Cluster {
	t.Helper()
	c, err := Open(config.Etcd{Endpoints: endpoints, Prefix: "/test/", EncryptionKeyFile: keyFile}, name,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func keyFile(t *testing.T, dir string, seed byte) string {
	t.Helper()
	path := filepath.Join(dir, "key"+string('a'+seed))
	os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{seed}, 32))+"\n"), 0o600)
	return path
}

func TestStorageOnEtcd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := testpeer.StartEtcd(t, filepath.Join(dir, "etcd"), 1)
	key := keyFile(t, dir, 1)
	c := node(t, e.Endpoints, key, "a")
	s := c.Storage()
	ctx := context.Background()

	pemKey := []byte("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI...\n-----END EC PRIVATE KEY-----\n")
	for k, v := range map[string][]byte{
		"certificates/ca/a.example.com/a.example.com.key":  pemKey,
		"certificates/ca/a.example.com/a.example.com.crt":  []byte("crt"),
		"certificates/ca/b.example.com/b.example.com.crt":  []byte("crt b"),
		"acme/ca/users/ops@example.com/ops.json":           []byte("{}"),
		"acme/ca/challenge_tokens/a.example.com.json":      []byte(`{"token":"x"}`),
		"certificates/ca/a.example.com/a.example.com.json": []byte("{}"),
	} {
		if err := s.Store(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Load(ctx, "certificates/ca/a.example.com/a.example.com.key")
	if err != nil || !bytes.Equal(got, pemKey) {
		t.Fatalf("Load: %q, %v", got, err)
	}
	if _, err := s.Load(ctx, "certificates/none"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing key: %v, want fs.ErrNotExist", err)
	}
	ki, err := s.Stat(ctx, "certificates/ca/a.example.com/a.example.com.key")
	if err != nil || !ki.IsTerminal || ki.Size != int64(len(pemKey)) || time.Since(ki.Modified) > time.Minute {
		t.Errorf("Stat: %+v, %v", ki, err)
	}
	if ki, err := s.Stat(ctx, "certificates/ca"); err != nil || ki.IsTerminal {
		t.Errorf("Stat of a directory: %+v, %v", ki, err)
	}
	if !s.Exists(ctx, "acme") || s.Exists(ctx, "acm") {
		t.Error("Exists: a prefix exists only as whole path elements")
	}
	list, err := s.List(ctx, "certificates/ca", false)
	if err != nil || strings.Join(list, ",") != "certificates/ca/a.example.com,certificates/ca/b.example.com" {
		t.Errorf("List: %v, %v", list, err)
	}
	all, err := s.List(ctx, "certificates", true)
	if err != nil || len(all) != 4 {
		t.Errorf("List recursive: %v, %v", all, err)
	}
	// Nothing readable in etcd itself.
	raw, err := c.cli.Get(ctx, "/test/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range raw.Kvs {
		if bytes.Contains(kv.Value, []byte("PRIVATE KEY")) || bytes.Contains(kv.Value, []byte("token")) {
			t.Errorf("%s is stored in clear", kv.Key)
		}
	}
	// Another key cannot read it, and says why.
	other := node(t, e.Endpoints, keyFile(t, dir, 2), "b").Storage()
	if _, err := other.Load(ctx, "certificates/ca/a.example.com/a.example.com.key"); err == nil || !strings.Contains(err.Error(), "encryption_key_file") {
		t.Errorf("wrong key: %v", err)
	}
	// A value moved to another key does not decrypt.
	v, _ := c.cli.Get(ctx, s.etcdKey("certificates/ca/a.example.com/a.example.com.key"))
	c.cli.Put(ctx, s.etcdKey("moved"), string(v.Kvs[0].Value))
	if _, err := s.Load(ctx, "moved"); err == nil {
		t.Error("a value moved to another key decrypted")
	}
	// Delete of a prefix is recursive.
	if err := s.Delete(ctx, "certificates/ca/a.example.com"); err != nil {
		t.Fatal(err)
	}
	if s.Exists(ctx, "certificates/ca/a.example.com/a.example.com.crt") || !s.Exists(ctx, "certificates/ca/b.example.com") {
		t.Error("Delete of a prefix")
	}
	if err := s.Delete(ctx, "certificates/none"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Delete of nothing: %v", err)
	}
}

// TestLocks: one holder at a time across processes (here: clients) and
// across goroutines of one process; a holder that dies without unlocking
// frees the lock after the lease TTL.
func TestLocks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := testpeer.StartEtcd(t, filepath.Join(dir, "etcd"), 1)
	key := keyFile(t, dir, 1)
	a := node(t, e.Endpoints, key, "a").Storage()
	b := node(t, e.Endpoints, key, "b").Storage()
	ctx := context.Background()

	if err := a.Lock(ctx, "issue_cert_x"); err != nil {
		t.Fatal(err)
	}
	var bHeld atomic.Bool
	done := make(chan error, 1)
	go func() {
		err := b.Lock(ctx, "issue_cert_x")
		bHeld.Store(true)
		done <- err
	}()
	// Same process, another goroutine: must wait too.
	var aAgain atomic.Bool
	go func() {
		if a.Lock(ctx, "issue_cert_x") == nil {
			aAgain.Store(true)
			a.Unlock(ctx, "issue_cert_x")
		}
	}()
	time.Sleep(700 * time.Millisecond)
	if bHeld.Load() || aAgain.Load() {
		t.Fatal("a lock was held twice")
	}
	if err := a.Unlock(ctx, "issue_cert_x"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b.Unlock(ctx, "issue_cert_x")

	// A holder that dies: its client goes away without unlocking.
	dying := node(t, e.Endpoints, key, "dying")
	if err := dying.Storage().Lock(ctx, "issue_cert_y"); err != nil {
		t.Fatal(err)
	}
	dying.Close()
	start := time.Now()
	lctx, cancel := context.WithTimeout(ctx, 3*lockTTL)
	defer cancel()
	if err := b.Lock(lctx, "issue_cert_y"); err != nil {
		t.Fatalf("lock of a dead holder never freed: %v", err)
	}
	waited := time.Since(start)
	b.Unlock(ctx, "issue_cert_y")
	if waited < lockTTL/2 || waited > 2*lockTTL {
		t.Errorf("took over a dead holder's lock after %v, want about the lease TTL %v", waited, lockTTL)
	}
	t.Logf("took over a dead holder's lock after %v (lease TTL %v)", waited.Round(100*time.Millisecond), lockTTL)
}

// TestQuorumLoss: with two of three members down, calls fail within their
// deadline instead of hanging, and work again once a member is back.
func TestQuorumLoss(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := testpeer.StartEtcd(t, filepath.Join(dir, "etcd"), 3)
	s := node(t, e.Endpoints, keyFile(t, dir, 1), "a").Storage()
	ctx := context.Background()
	if err := s.Store(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	e.Kill(t, 1)
	if v, err := s.Load(ctx, "k"); err != nil || string(v) != "v" {
		t.Fatalf("one member down: %q, %v", v, err)
	}
	e.Kill(t, 2)
	start := time.Now()
	err := s.Store(ctx, "k2", []byte("v2"))
	if err == nil {
		t.Fatal("a write without quorum succeeded")
	}
	if d := time.Since(start); d > 4*opTimeout {
		t.Errorf("write without quorum took %v to fail", d)
	}
	t.Logf("write without quorum failed after %v: %v", time.Since(start).Round(100*time.Millisecond), err)
	e.Restart(t, 1)
	deadline := time.Now().Add(30 * time.Second)
	for s.Store(ctx, "k2", []byte("v2")) != nil {
		if time.Now().After(deadline) {
			t.Fatal("writes did not resume after quorum returned")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestSharedTicketKeys: every node ends up with the same ring; one node
// rotates; the ring keeps 3 keys.
func TestSharedTicketKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := testpeer.StartEtcd(t, filepath.Join(dir, "etcd"), 1)
	key := keyFile(t, dir, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rings []*tlspolicy.TicketKeys
	for _, name := range []string{"a", "b", "c"} {
		tk := tlspolicy.NewTicketKeys()
		rings = append(rings, tk)
		go node(t, e.Endpoints, key, name).ShareTicketKeys(ctx, tk, 2*time.Second, 3)
	}
	same := func() bool {
		k0 := rings[0].Keys()
		for _, r := range rings[1:] {
			k := r.Keys()
			if len(k) != len(k0) || k[0] != k0[0] {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(10 * time.Second)
	for !same() {
		if time.Now().After(deadline) {
			t.Fatal("the nodes never agreed on ticket keys")
		}
		time.Sleep(50 * time.Millisecond)
	}
	first := rings[1].Keys()[0]
	deadline = time.Now().Add(20 * time.Second)
	for len(rings[2].Keys()) < 3 || !same() {
		if time.Now().After(deadline) {
			t.Fatalf("no rotation to 3 keys: %d keys", len(rings[2].Keys()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	k := rings[2].Keys()
	if k[0] == first || k[2] != first {
		t.Errorf("after two rotations the first key should be third and last")
	}
	time.Sleep(2500 * time.Millisecond)
	if n := len(rings[0].Keys()); n != 3 {
		t.Errorf("ring has %d keys, want 3 kept", n)
	}
	st := node(t, e.Endpoints, key, "status").Status(ctx)
	if st.Rotator == "" || st.TicketKeys != 3 || len(st.Members) != 1 || !st.Members[0].Leader {
		t.Errorf("status: %+v", st)
	}
}

// TestEtcdTLS: etcd with TLS and client-certificate authentication; the
// gateway connects with storage.etcd.tls, and without a client
// certificate it is refused with a clear error.
func TestEtcdTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := pkitest.NewCA(t, "etcd CA")
	caFile := ca.WriteRoot(t, dir)
	srvCert, srvKey := pkitest.WriteFiles(t, dir, "etcd-server", ca.Issue(t, pkitest.Leaf{Names: []string{"127.0.0.1"}}))
	cliCert, cliKey := pkitest.WriteFiles(t, dir, "tlsgate", ca.Issue(t, pkitest.Leaf{Names: []string{"tlsgate"}, Client: true}))
	e := testpeer.StartEtcdWith(t, filepath.Join(dir, "etcd"), 1, testpeer.EtcdOptions{
		ServerCert: srvCert, ServerKey: srvKey, ClientCA: caFile, ClientCert: cliCert, ClientKey: cliKey})
	key := keyFile(t, dir, 1)
	open := func(tlsCfg config.EtcdTLS) (*Storage, error) {
		c, err := Open(config.Etcd{Endpoints: e.Endpoints, Prefix: "/tls/", EncryptionKeyFile: key, TLS: tlsCfg}, "a",
			slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { c.Close() })
		return c.Storage(), nil
	}
	s, err := open(config.EtcdTLS{CA: caFile, Cert: cliCert, Key: cliKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Store(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("over TLS with a client certificate: %v", err)
	}
	if v, err := s.Load(ctx, "k"); err != nil || string(v) != "v" {
		t.Fatalf("Load over TLS: %q, %v", v, err)
	}
	noCert, err := open(config.EtcdTLS{CA: caFile})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noCert.Load(ctx, "k"); err == nil {
		t.Error("etcd accepted a client without a certificate")
	} else {
		t.Logf("without a client certificate: %v", err)
	}
}

// TestStatusMemberDown: a member that refuses connections is named as
// such at once, not after a request deadline, and so is a configured
// endpoint that is down and no member's.
func TestStatusMemberDown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := testpeer.StartEtcd(t, filepath.Join(dir, "etcd"), 3)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stray := "http://" + closed.Addr().String()
	closed.Close()
	c := node(t, append(slices.Clone(e.Endpoints), stray), keyFile(t, dir, 1), "status")
	e.Kill(t, 2)
	start := time.Now()
	st := c.Status(context.Background())
	if took := time.Since(start); took > 2*opTimeout {
		t.Errorf("status took %v", took)
	}
	var refused, up int
	for _, m := range st.Members {
		switch {
		case m.Endpoint == e.Endpoints[2] && strings.HasPrefix(m.Error, "connection refused by "):
			refused++
		case m.Error == "":
			up++
		}
	}
	if refused != 1 || up != 2 {
		t.Errorf("members (want the killed one refused, two up): %+v", st.Members)
	}
	if !slices.ContainsFunc(st.Errors, func(e string) bool {
		return strings.Contains(e, "endpoint "+stray+" (storage.etcd.endpoints) is no member's client URL: connection refused")
	}) {
		t.Errorf("the stray endpoint is not reported: %q", st.Errors)
	}
}
