// Package storage is where tlsgate keeps state that must outlive a process
// and, in a cluster, be shared: ACME accounts, certificates and their keys,
// challenge tokens, and the locks that keep two issuers from ordering the
// same certificate. The interface has the shape of certmagic.Storage so
// the ACME layer uses it directly; the filesystem implementation in the
// data dir is the default, and a cluster backend (etcd) implements the
// same interface.
//
// All key names tlsgate itself writes are built here (Status), next to the
// certmagic layout they live beside, so a backend never has to guess.
//
// It imports nothing of this module.
package storage

import (
	"context"
	"path"

	"github.com/caddyserver/certmagic"
)

// Storage is a key/value store with locks. Keys are slash-separated paths.
// Missing keys are reported with an error wrapping fs.ErrNotExist; Delete
// of a prefix deletes everything under it. Lock blocks until the named
// lock is held or ctx ends; a lock whose holder died must free itself
// (the filesystem backend treats a lock not refreshed for 10 s as stale).
type Storage interface {
	Lock(ctx context.Context, name string) error
	Unlock(ctx context.Context, name string) error
	Store(ctx context.Context, key string, value []byte) error
	Load(ctx context.Context, key string) ([]byte, error)
	Delete(ctx context.Context, key string) error
	Exists(ctx context.Context, key string) bool
	List(ctx context.Context, prefix string, recursive bool) ([]string, error)
	Stat(ctx context.Context, key string) (certmagic.KeyInfo, error)
}

// Both directions hold: anything that is a Storage can be handed to
// certmagic, and certmagic's own backends are Storages.
var _ certmagic.Storage = Storage(nil)
var _ Storage = certmagic.Storage(nil)

// StatusPrefix is where tlsgate records the outcome of certificate
// requests, one JSON document per certificate name.
const StatusPrefix = "tlsgate/status"

// Status is the key of name's certificate request status.
func Status(name string) string {
	return path.Join(StatusPrefix, certmagic.StorageKeys.Safe(name)+".json")
}
