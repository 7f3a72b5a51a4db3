package server

import (
	"bytes"
	"crypto/tls"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/ech"
)

// TestReviewECHOffInFleet: a gateway whose config turns ECH off
// (ech.enabled: false) does not decrypt ECH hellos with the fleet's keys
// that another gateway keeps in etcd, at start or after a reload that
// turns it off. Before the fix the etcd watch applied the fleet's ring
// whatever the local config said, so an operator could not turn ECH off
// on a node (after a key leak, or for a client that breaks on it).
func TestReviewECHOffInFleet(t *testing.T) {
	storage, _ := etcdStorage(t)
	a := newECHFixture(t, "ech: {public_name: public.example.test}\n"+storage)
	list := a.g.srv.ECHConfigList()
	if len(list) == 0 {
		t.Fatal("gateway A has no ECH config")
	}
	b := newECHFixture(t, "ech: {enabled: false}\n"+storage)
	// Give B's watch time to read the fleet's ring (it does within
	// milliseconds when it applies it at all).
	offOn := func(f *echFixture, what string) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			if l := f.g.srv.ECHConfigList(); l != nil {
				t.Fatalf("%s: ECH is off in its config but it uses config %x", what, l)
			}
			time.Sleep(50 * time.Millisecond)
		}
		_, err := f.get(t, &tls.Config{EncryptedClientHelloConfigList: list}, "api.example.test", "/")
		var rej *tls.ECHRejectionError
		if !errors.As(err, &rej) {
			t.Fatalf("%s: a hello with the fleet's config: %v, want it refused (ECH off)", what, err)
		}
		if len(rej.RetryConfigList) != 0 {
			t.Errorf("%s: ECH off, but retry configs sent", what)
		}
	}
	offOn(b, "gateway B started with ech.enabled: false")

	// Gateway C starts with ECH, then a reload turns it off.
	c := newECHFixture(t, "ech: {public_name: public.example.test}\n"+storage)
	deadline := time.Now().Add(15 * time.Second)
	for !bytes.Equal(c.g.srv.ECHConfigList(), list) {
		if time.Now().After(deadline) {
			t.Fatal("control: gateway C does not use the fleet's config")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cfgPath := c.g.configPath
	y, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	y = bytes.Replace(y, []byte("ech: {public_name: public.example.test}"), []byte("ech: {enabled: false}"), 1)
	if err := os.WriteFile(cfgPath, y, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.g.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	// A rotation on A is what C's watch sees next.
	if err := a.g.srv.RotateECH(t.Context()); err != nil {
		t.Fatal(err)
	}
	list = a.g.srv.ECHConfigList()
	offOn(c, "gateway C after a reload to ech.enabled: false")
}

// TestReviewECHFleetLeaderWithECHOff: in a fleet where the node elected
// to rotate the ECH keys has ECH off in its config, the keys of the
// nodes that use ECH still rotate and expire: a previous key stops
// decrypting after ech.grace. Before the fix that node held the election
// and did nothing, so the fleet's old keys decrypted forever and the
// current one never rotated.
func TestReviewECHFleetLeaderWithECHOff(t *testing.T) {
	storage, _ := etcdStorage(t)
	off := newECHFixture(t, "ech: {enabled: false}\n"+storage)
	// The ECH-off node campaigns first (before the fix: and wins).
	deadline := time.Now().Add(5 * time.Second)
	for !bytes.Contains([]byte(off.g.logs.String()), []byte("this node rotates the fleet's ECH keys")) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	on := newECHFixture(t, "ech: {public_name: public.example.test, grace: 2s}\n"+storage)
	old := on.g.srv.ECHConfigList()
	if len(old) == 0 {
		t.Fatal("no ECH config on the ECH node")
	}
	if err := on.g.srv.RotateECH(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(on.g.srv.ech.keys.Ring().Keys); n != 2 {
		t.Fatalf("%d keys after a rotation, want 2", n)
	}
	waitOneECHKey(t, on.g, 20*time.Second, "the previous ECH key still decrypts 20s after a rotation with ech.grace 2s")
	_, err := on.get(t, &tls.Config{EncryptedClientHelloConfigList: old}, "api.example.test", "/")
	var rej *tls.ECHRejectionError
	if !errors.As(err, &rej) {
		t.Fatalf("a hello with the expired config: %v, want it refused", err)
	}
}

// TestReviewECHGraceWithoutEtcd: a fleet node keeps its ECH keys when
// etcd is unreachable, but a previous key still stops decrypting at the
// end of its grace period: losing etcd does not make an old key (one
// that may have leaked, or that clients were told to stop using) live
// for as long as the outage lasts.
func TestReviewECHGraceWithoutEtcd(t *testing.T) {
	storage, e := etcdStorage(t)
	f := newECHFixture(t, "ech: {public_name: public.example.test, grace: 3s}\n"+storage)
	old := f.g.srv.ECHConfigList()
	if err := f.g.srv.RotateECH(t.Context()); err != nil {
		t.Fatal(err)
	}
	cur := f.g.srv.ECHConfigList()
	e.Kill(t, 0)
	if r, err := f.get(t, &tls.Config{EncryptedClientHelloConfigList: old}, "api.example.test", "/"); err != nil || !r.cs.ECHAccepted {
		t.Fatalf("control: the previous config within its grace: %v", err)
	}
	waitOneECHKey(t, f.g, 15*time.Second, "with etcd down, the previous ECH key still decrypts 15s after a rotation with ech.grace 3s")
	_, err := f.get(t, &tls.Config{EncryptedClientHelloConfigList: old}, "api.example.test", "/")
	var rej *tls.ECHRejectionError
	if !errors.As(err, &rej) {
		t.Fatalf("the expired config with etcd down: %v, want it refused", err)
	}
	// The current key goes on working without etcd.
	if r, err := f.get(t, &tls.Config{EncryptedClientHelloConfigList: cur}, "api.example.test", "/"); err != nil || !r.cs.ECHAccepted {
		t.Fatalf("the current config with etcd down: %v", err)
	}
}

// TestReviewECHFleetRingNeverGoesBack: a fleet ring read from etcd
// (the watch, or the start's read) that is older than the one this
// gateway already applied (its own rotation) is not applied: going back
// would make the fleet's new current key fail here, and with etcd
// unreachable right after, stay so. TestReviewECHGraceWithoutEtcd hit
// this under load.
func TestReviewECHFleetRingNeverGoesBack(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte("ech: {public_name: a.example.test}\nsites: [{hosts: [a.example.test], routes: [{upstreams: [\"http://127.0.0.1:9\"]}]}]"))
	if err != nil {
		t.Fatal(err)
	}
	e := newECHService(t.TempDir(), nil, func() *config.Config { return cfg }, slog.New(slog.DiscardHandler), nil)
	s := cfg.ECHSettings()
	older, _, _ := ech.Ring{}.Update(s, time.Now())
	newer, _ := older.Rotated(s, time.Now())
	e.applyAt(newer, 20)     // this gateway's rotation, etcd revision 20
	e.applyShared(older, 10) // the watch's earlier event
	if cur, _ := e.keys.Ring().Current(); cur.ID != newer.Keys[0].ID {
		t.Fatalf("the fleet's ring went back to an older revision: current key %d, want %d", cur.ID, newer.Keys[0].ID)
	}
	e.applyShared(newer, 20) // the same ring again: fine
	third, _ := newer.Rotated(s, time.Now())
	e.applyShared(third, 30)
	if cur, _ := e.keys.Ring().Current(); cur.ID != third.Keys[0].ID {
		t.Fatalf("a newer ring was not applied")
	}
	// etcd wiped or restored: revisions start again, and a gateway makes
	// a new ring; its key is younger than the live one, so it applies.
	fresh, _, _ := ech.Ring{}.Update(s, time.Now().Add(time.Second))
	e.applyShared(fresh, 2)
	if cur, _ := e.keys.Ring().Current(); cur.ID != fresh.Keys[0].ID || !bytes.Equal(cur.Config, fresh.Keys[0].Config) {
		t.Fatal("after an etcd wipe the fleet's new ring was ignored (its revision is lower)")
	}
}
