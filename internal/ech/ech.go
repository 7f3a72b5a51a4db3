// Package ech makes and rotates the keys of Encrypted Client Hello
// (draft-ietf-tls-esni, the ECHConfig version 0xfe0d that Go's crypto/tls,
// BoringSSL and browsers speak): each key is an X25519 HPKE key pair and
// the ECHConfig clients learn from the DNS HTTPS record.
//
// A Ring is the set of live keys, newest first: the newest is published
// and sent as retry config, the older ones still decrypt hellos of
// clients holding a config from before the last rotation, for a grace
// period. Rings are plain values (JSON in the data dir, sealed in etcd by
// package cluster); Keys holds the ring a server uses, safe for
// concurrent use by handshakes.
//
// It builds no tls.Config (package tlspolicy does) and imports only
// atomicfile.
package ech

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// Wire constants of the ECHConfig (draft-ietf-tls-esni-18 section 4) and
// the HPKE algorithms (RFC 9180 section 7).
const (
	// Version is the ECHConfig version every deployed client speaks.
	Version uint16 = 0xfe0d
	// KEMX25519 is DHKEM(X25519, HKDF-SHA256): the KEM every ECH client
	// implements, with 32-byte keys.
	KEMX25519  uint16 = 0x0020
	kdfSHA256  uint16 = 0x0001
	aeadAES    uint16 = 0x0001 // AES-128-GCM
	aeadChaCha uint16 = 0x0003 // ChaCha20Poly1305, for clients without AES hardware
)

// Key is one ECH key.
type Key struct {
	// ID is the config_id clients echo, so the server tries the right key
	// first. Unique within a ring.
	ID uint8 `json:"id"`
	// Config is the marshalled ECHConfig, byte for byte what clients get.
	Config []byte `json:"config"`
	// PrivateKey is the X25519 private key (32 bytes, HPKE's serialised
	// form). Whoever holds it reads the inner hello (the real server name)
	// of every client that used Config.
	PrivateKey []byte `json:"private_key"`
	// Created is when the key was made; it is the current key until the
	// next one is made, then it decrypts for the grace period.
	Created time.Time `json:"created"`
	// PublicName is the outer server name in Config.
	PublicName string `json:"public_name"`
}

// String describes k without its private key, so that printing a key
// (or a ring, or a struct holding one) never shows it; %#v too.
func (k Key) String() string {
	return fmt.Sprintf("ECH key %d for %s, made %s", k.ID, k.PublicName, k.Created.Format(time.RFC3339))
}

// GoString is String: %#v must not print the private key either.
func (k Key) GoString() string { return k.String() }

// LogValue is how slog shows k: without its private key.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("id", int(k.ID)), slog.String("public_name", k.PublicName), slog.Time("created", k.Created))
}

// Ring is the live keys, newest first.
type Ring struct {
	Keys []Key `json:"keys"`
}

// LogValue is how slog shows r: its keys' IDs, never their private
// keys (slog's JSON handler would otherwise marshal them).
func (r Ring) LogValue() slog.Value {
	ids := make([]int, len(r.Keys))
	for i, k := range r.Keys {
		ids[i] = int(k.ID)
	}
	return slog.GroupValue(slog.Any("ids", ids))
}

// Current is the newest key, the one published; ok is false for an empty
// ring.
func (r Ring) Current() (k Key, ok bool) {
	if len(r.Keys) == 0 {
		return Key{}, false
	}
	return r.Keys[0], true
}

// Settings say what a ring should look like.
type Settings struct {
	// PublicName is the outer SNI of every ECH hello: a DNS name with at
	// least two labels (clients refuse others) that the gateway holds a
	// certificate for.
	PublicName string
	// MaxNameLength is the longest inner server name expected; clients pad
	// shorter names to it, so that the hello's size does not tell names
	// apart. 0 lets clients pick.
	MaxNameLength int
	// Rotate is how long a key stays current.
	Rotate time.Duration
	// Grace is how long a key keeps decrypting after it stopped being
	// current: longer than the HTTPS record's TTL plus the time resolvers
	// and clients cache it.
	Grace time.Duration
}

// NewKey makes a key for s whose ID none of ring's keys use.
func NewKey(s Settings, ring Ring, now time.Time) (Key, error) {
	if err := CheckPublicName(s.PublicName); err != nil {
		return Key{}, err
	}
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return Key{}, err
	}
	var id uint8
	for {
		var b [1]byte
		rand.Read(b[:])
		id = b[0]
		if !slices.ContainsFunc(ring.Keys, func(k Key) bool { return k.ID == id }) {
			break
		}
	}
	cfg, err := MarshalConfig(id, priv.PublicKey().Bytes(), s.PublicName, s.MaxNameLength)
	if err != nil {
		return Key{}, err
	}
	return Key{ID: id, Config: cfg, PrivateKey: priv.Bytes(), Created: now.UTC(), PublicName: s.PublicName}, nil
}

// MarshalConfig encodes an ECHConfig for an X25519 public key, offering
// HKDF-SHA256 with AES-128-GCM and with ChaCha20Poly1305.
func MarshalConfig(id uint8, publicKey []byte, publicName string, maxNameLength int) ([]byte, error) {
	if maxNameLength < 0 || maxNameLength > 255 {
		maxNameLength = 0
	}
	var b cryptobyte.Builder
	b.AddUint16(Version)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint8(id)
		b.AddUint16(KEMX25519)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(publicKey) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, aead := range []uint16{aeadAES, aeadChaCha} {
				b.AddUint16(kdfSHA256)
				b.AddUint16(aead)
			}
		})
		b.AddUint8(uint8(maxNameLength))
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(publicName)) })
		b.AddUint16(0) // no extensions
	})
	return b.Bytes()
}

// ConfigList encodes keys' configs as an ECHConfigList, the value of the
// HTTPS record's ech parameter (in base64) and of
// tls.Config.EncryptedClientHelloConfigList.
func ConfigList(keys ...Key) []byte {
	var b cryptobyte.Builder
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, k := range keys {
			b.AddBytes(k.Config)
		}
	})
	return b.BytesOrPanic()
}

// PublishedList is the ECHConfigList to publish for r: the current key's
// config alone (older keys still decrypt, but new clients should not
// learn them). Nil for an empty ring.
func (r Ring) PublishedList() []byte {
	k, ok := r.Current()
	if !ok {
		return nil
	}
	return ConfigList(k)
}

// Base64 is the list as the HTTPS record's ech= value spells it.
func Base64(list []byte) string { return base64.StdEncoding.EncodeToString(list) }

// Update returns the ring s asks for at now: a new current key when the
// ring is empty, its current key is Rotate old or was made for another
// public name; keys that stopped being current more than Grace ago
// dropped. changed says whether anything differs from r.
func (r Ring) Update(s Settings, now time.Time) (next Ring, changed bool, err error) {
	next = Ring{Keys: slices.Clone(r.Keys)}
	if cur, ok := r.Current(); !ok || now.Sub(cur.Created) >= s.Rotate || cur.PublicName != s.PublicName {
		if next, err = next.Rotated(s, now); err != nil {
			return r, false, err
		}
		changed = true
	}
	next, pruned := next.Pruned(s.Grace, now)
	return next, changed || pruned, nil
}

// Pruned returns r without the keys whose grace period ended by now;
// changed says whether it dropped any. The current key always stays.
func (r Ring) Pruned(grace time.Duration, now time.Time) (next Ring, changed bool) {
	if len(r.Keys) == 0 {
		return r, false
	}
	kept := []Key{r.Keys[0]}
	for i := 1; i < len(r.Keys); i++ {
		// Key i stopped being current when key i-1 was made.
		if now.Sub(r.Keys[i-1].Created) < grace {
			kept = append(kept, r.Keys[i])
		} else {
			changed = true
		}
	}
	if !changed {
		return r, false
	}
	return Ring{Keys: kept}, true
}

// GraceEnds is when the first of r's previous keys stops decrypting
// (Pruned drops it); zero when r has no previous key.
func (r Ring) GraceEnds(grace time.Duration) time.Time {
	var first time.Time
	for i := 1; i < len(r.Keys); i++ {
		if t := r.Keys[i-1].Created.Add(grace); first.IsZero() || t.Before(first) {
			first = t
		}
	}
	return first
}

// Rotated returns r with a new current key, the others kept.
func (r Ring) Rotated(s Settings, now time.Time) (Ring, error) {
	k, err := NewKey(s, r, now)
	if err != nil {
		return r, err
	}
	return Ring{Keys: append([]Key{k}, r.Keys...)}, nil
}

// NextChange is when Update would next change r: the current key's
// rotation or the end of an older key's grace, whichever is first.
func (r Ring) NextChange(s Settings) time.Time {
	cur, ok := r.Current()
	if !ok {
		return time.Time{}
	}
	next := cur.Created.Add(s.Rotate)
	for i := 1; i < len(r.Keys); i++ {
		if t := r.Keys[i-1].Created.Add(s.Grace); t.Before(next) {
			next = t
		}
	}
	return next
}

// TLSKeys are r's keys as crypto/tls takes them; only the current one is
// sent as retry config.
func (r Ring) TLSKeys() []tls.EncryptedClientHelloKey {
	out := make([]tls.EncryptedClientHelloKey, len(r.Keys))
	for i, k := range r.Keys {
		out[i] = tls.EncryptedClientHelloKey{Config: k.Config, PrivateKey: k.PrivateKey, SendAsRetry: i == 0}
	}
	return out
}

// Check reports a ring that crypto/tls could not use.
func (r Ring) Check() error {
	if len(r.Keys) == 0 {
		return errors.New("no ECH keys")
	}
	for _, k := range r.Keys {
		if len(k.PrivateKey) != 32 || len(k.Config) < 10 {
			return fmt.Errorf("ECH key %d is malformed", k.ID)
		}
		if _, err := ecdh.X25519().NewPrivateKey(k.PrivateKey); err != nil {
			return fmt.Errorf("ECH key %d: %w", k.ID, err)
		}
	}
	return nil
}

// CheckPublicName reports a public name clients would refuse: ECH
// clients require a DNS name of two labels or more, not an IP address.
func CheckPublicName(name string) error {
	if name == "" {
		return errors.New("empty")
	}
	if len(name) > 255 {
		return errors.New("longer than 255 bytes")
	}
	if strings.HasPrefix(name, "*") {
		return errors.New("a wildcard cannot be a public name: give one DNS name")
	}
	labels := strings.Split(strings.TrimSuffix(name, "."), ".")
	if len(labels) < 2 {
		return fmt.Errorf("%q has one label: clients refuse it (use a name such as ech.example.com)", name)
	}
	last := labels[len(labels)-1]
	if strings.Trim(last, "0123456789") == "" || strings.Contains(name, ":") {
		return fmt.Errorf("%q is an IP address: give a DNS name", name)
	}
	for _, l := range labels {
		// What Go's client accepts (crypto/tls validDNSName): letters,
		// digits and inner hyphens.
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' || strings.Trim(l, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "" {
			return fmt.Errorf("%q is not a DNS name clients accept (letters, digits and inner hyphens only)", name)
		}
	}
	return nil
}

// Keys is the ring a server decrypts with. The zero value holds no keys;
// it is safe for concurrent use.
type Keys struct {
	ring atomic.Pointer[ringKeys]
}

type ringKeys struct {
	ring Ring
	tls  []tls.EncryptedClientHelloKey
}

// Set makes r the live ring.
func (k *Keys) Set(r Ring) {
	k.ring.Store(&ringKeys{ring: r, tls: r.TLSKeys()})
}

// Ring returns the live ring (read only).
func (k *Keys) Ring() Ring {
	if rk := k.ring.Load(); rk != nil {
		return rk.ring
	}
	return Ring{}
}

// Prune drops the live keys whose grace period ended by now (see
// Ring.Pruned), unless another ring was set meanwhile.
func (k *Keys) Prune(grace time.Duration, now time.Time) {
	for {
		rk := k.ring.Load()
		if rk == nil {
			return
		}
		next, changed := rk.ring.Pruned(grace, now)
		if !changed || k.ring.CompareAndSwap(rk, &ringKeys{ring: next, tls: next.TLSKeys()}) {
			return
		}
	}
}

// ForHandshake is tls.Config.GetEncryptedClientHelloKeys: the live keys.
// It never fails; crypto/tls takes an empty list as "no ECH".
func (k *Keys) ForHandshake(*tls.ClientHelloInfo) ([]tls.EncryptedClientHelloKey, error) {
	if rk := k.ring.Load(); rk != nil {
		return rk.tls, nil
	}
	return []tls.EncryptedClientHelloKey{}, nil
}
