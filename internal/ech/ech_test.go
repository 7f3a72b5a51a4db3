package ech_test

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/ech"
	"github.com/tlsgate/tlsgate/internal/pkitest"
)

var settings = ech.Settings{PublicName: "public.example.test", MaxNameLength: 32, Rotate: time.Hour, Grace: 2 * time.Hour}

func TestUpdateRotatesAndRetires(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r, changed, err := ech.Ring{}.Update(settings, t0)
	if err != nil || !changed || len(r.Keys) != 1 {
		t.Fatalf("first update: %d keys, changed %v, %v", len(r.Keys), changed, err)
	}
	if _, changed, _ := r.Update(settings, t0.Add(59*time.Minute)); changed {
		t.Fatal("rotated before rotate")
	}
	if got := r.NextChange(settings); !got.Equal(t0.Add(time.Hour)) {
		t.Fatalf("NextChange = %v", got)
	}
	r2, changed, _ := r.Update(settings, t0.Add(time.Hour))
	if !changed || len(r2.Keys) != 2 || r2.Keys[1].ID != r.Keys[0].ID || r2.Keys[0].ID == r.Keys[0].ID {
		t.Fatalf("after rotate: %+v", r2.Keys)
	}
	tk := r2.TLSKeys()
	if !tk[0].SendAsRetry || tk[1].SendAsRetry {
		t.Fatal("only the current key is a retry config")
	}
	// The old key stopped being current at t0+1h: kept until t0+3h.
	r3, _, _ := r2.Update(settings, t0.Add(2*time.Hour+59*time.Minute))
	if len(r3.Keys) < 2 || r3.Keys[len(r3.Keys)-1].ID != r.Keys[0].ID {
		t.Fatalf("old key dropped within grace: %d keys", len(r3.Keys))
	}
	r4, _, _ := r2.Update(settings, t0.Add(3*time.Hour))
	for _, k := range r4.Keys {
		if k.ID == r.Keys[0].ID {
			t.Fatal("old key kept past grace")
		}
	}
	// A new public name rotates at once.
	other := settings
	other.PublicName = "other.example.test"
	r5, changed, _ := r.Update(other, t0.Add(time.Minute))
	if !changed || r5.Keys[0].PublicName != "other.example.test" {
		t.Fatal("a new public name did not rotate")
	}
}

func TestCheckPublicName(t *testing.T) {
	for name, ok := range map[string]bool{
		"public.example.test": true, "localhost": false, "127.0.0.1": false, "*.example.com": false, "": false, "::1": false, "a..b": false,
	} {
		if err := ech.CheckPublicName(name); (err == nil) != ok {
			t.Errorf("CheckPublicName(%q) = %v", name, err)
		}
	}
}

func TestFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d", ech.FileName)
	r, err := ech.LoadOrUpdate(path, settings, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ring file: %v, %v", fi, err)
	}
	again, err := ech.LoadOrUpdate(path, settings, time.Now())
	if err != nil || again.Keys[0].ID != r.Keys[0].ID {
		t.Fatalf("reloaded ring differs: %v", err)
	}
	os.WriteFile(path, []byte("{"), 0o600)
	if _, err := ech.Load(path); err == nil {
		t.Fatal("a corrupt ring loaded")
	}
}

// TestGoClient: crypto/tls's own client accepts the config MarshalConfig
// makes, and its hello decrypts with the key; a config from another key
// gets the current one as retry config.
func TestGoClient(t *testing.T) {
	pki := pkitest.NewCA(t, "ech test")
	cert := *pki.Issue(t, pkitest.Leaf{Names: []string{"inner.example.test", "public.example.test"}})
	r, _, err := ech.Ring{}.Update(settings, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	stale, _, _ := ech.Ring{}.Update(settings, time.Now())
	var keys ech.Keys
	keys.Set(r)
	server := &tls.Config{Certificates: []tls.Certificate{cert}, GetEncryptedClientHelloKeys: keys.ForHandshake, MinVersion: tls.VersionTLS13}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				tc := tls.Server(c, server)
				if tc.Handshake() == nil {
					tc.Read(make([]byte, 1))
				}
			}()
		}
	}()
	dial := func(list []byte) (tls.ConnectionState, error) {
		c1, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c1.Close()
		c1.SetDeadline(time.Now().Add(10 * time.Second))
		cl := tls.Client(c1, &tls.Config{ServerName: "inner.example.test", RootCAs: pki.Pool(), EncryptedClientHelloConfigList: list})
		err = cl.Handshake()
		return cl.ConnectionState(), err
	}
	cs, err := dial(r.PublishedList())
	if err != nil || !cs.ECHAccepted {
		t.Fatalf("ECH with the current config: accepted %v, %v", cs.ECHAccepted, err)
	}
	_, err = dial(stale.PublishedList())
	var rej *tls.ECHRejectionError
	if !errors.As(err, &rej) || len(rej.RetryConfigList) == 0 {
		t.Fatalf("stale config: %v", err)
	}
	if cs, err := dial(rej.RetryConfigList); err != nil || !cs.ECHAccepted {
		t.Fatalf("retry: %v", err)
	}
}

// TestReviewKeysNotExposed: a ring file other users can read is refused
// (the keys read every ECH client's real server name), and a key or ring
// printed or logged never shows its private key, while JSON (the file and
// etcd form) keeps it.
func TestReviewKeysNotExposed(t *testing.T) {
	path := filepath.Join(t.TempDir(), ech.FileName)
	r, err := ech.LoadOrUpdate(path, settings, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ech.Load(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a world-readable ring file: %v, want a refusal saying chmod 600", err)
	}
	os.Chmod(path, 0o600)
	if _, err := ech.Load(path); err != nil {
		t.Fatal(err)
	}

	secret := hex.EncodeToString(r.Keys[0].PrivateKey)
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "key", r.Keys[0], "ring", r)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "key", r.Keys[0], "ring", r)
	fmt.Fprintf(&logged, "%v %+v %v %+v %#v", r.Keys[0], r.Keys[0], r, r, r)
	out := logged.String()
	raw := string(r.Keys[0].PrivateKey)
	for _, enc := range []string{secret, base64.StdEncoding.EncodeToString(r.Keys[0].PrivateKey), fmt.Sprint(r.Keys[0].PrivateKey), raw} {
		if strings.Contains(out, enc) {
			t.Fatalf("the private key shows in logs or %%v output:\n%s", out)
		}
	}
	b, _ := json.Marshal(r)
	if !strings.Contains(string(b), base64.StdEncoding.EncodeToString(r.Keys[0].PrivateKey)) {
		t.Error("JSON lost the private key: the ring could not be stored")
	}
}
