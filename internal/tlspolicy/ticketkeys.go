package tlspolicy

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"sync"
	"time"
)

// TicketKeys is the set of session-ticket keys shared by every tls.Config
// the gateway hands out. The first key encrypts new tickets; all of them
// decrypt, so tickets issued before a rotation still resume.
//
// Each config gets keys derived from the ring's keys and its own label (the
// site), so a ticket issued for one site never resumes on another: a
// session made under one client-auth policy cannot satisfy another.
//
// Keys come from Rotate (in memory) or, in a cluster, from whoever calls
// Set with keys shared by the fleet. TicketKeys is safe for concurrent use.
type TicketKeys struct {
	mu      sync.Mutex // guards keys and configs
	keys    [][32]byte
	configs map[*tls.Config]string // config -> label
}

// NewTicketKeys returns a ring holding one fresh random key.
func NewTicketKeys() *TicketKeys {
	t := &TicketKeys{configs: map[*tls.Config]string{}}
	t.keys = [][32]byte{randomKey()}
	return t
}

// Track makes the ring set keys on cfgs (config -> label) from now on,
// replacing the configs tracked before: call it whenever a new set of
// configs goes live. Configs no longer tracked keep the keys they had.
func (t *TicketKeys) Track(cfgs map[*tls.Config]string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.configs = cfgs
	for c, label := range cfgs {
		c.SetSessionTicketKeys(derive(t.keys, label))
	}
}

// Set replaces the keys (newest first) and applies them to every tracked
// config.
func (t *TicketKeys) Set(keys [][32]byte) {
	if len(keys) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.keys = append([][32]byte(nil), keys...)
	for c, label := range t.configs {
		c.SetSessionTicketKeys(derive(t.keys, label))
	}
}

// Keys returns a copy of the current keys, newest first.
func (t *TicketKeys) Keys() [][32]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([][32]byte(nil), t.keys...)
}

// Rotate adds a new random key every interval, keeping at most keep keys,
// until ctx ends. With a 24h interval and 3 keys a ticket resumes for up
// to two days, and a key stolen from memory opens at most three days of
// recorded sessions.
func (t *TicketKeys) Rotate(ctx context.Context, interval time.Duration, keep int) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			keys := append([][32]byte{randomKey()}, t.Keys()...)
			if len(keys) > keep {
				keys = keys[:keep]
			}
			t.Set(keys)
		}
	}
}

func derive(keys [][32]byte, label string) [][32]byte {
	out := make([][32]byte, len(keys))
	for i, k := range keys {
		b, err := hkdf.Key(sha256.New, k[:], nil, "tlsgate session ticket key: "+label, 32)
		if err != nil {
			panic(err) // only for lengths sha256 cannot produce
		}
		copy(out[i][:], b)
	}
	return out
}

func randomKey() [32]byte {
	var k [32]byte
	rand.Read(k[:]) // crypto/rand.Read never returns an error since Go 1.24
	return k
}
