package cluster

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/tlsgate/tlsgate/internal/storage"
)

// lockTTL is how long an issuance lock outlives a holder that died: its
// lease is no longer kept alive and etcd deletes the lock.
const lockTTL = 10 * time.Second

// lockWait bounds the wait for a lock another node holds, when the caller
// gave no deadline: an ACME order takes seconds, a stuck one is retried.
const lockWait = 5 * time.Minute

// Storage is storage.Storage on etcd. Keys live under the cluster prefix
// in "store/"; locks under "locks/".
type Storage struct {
	c *Cluster

	mu    sync.Mutex
	held  map[string]*heldLock     // by lock name
	local map[string]chan struct{} // one waiter per name in this process
}

type heldLock struct {
	session *concurrency.Session
	mutex   *concurrency.Mutex
	release chan struct{} // the local slot
}

var _ storage.Storage = (*Storage)(nil)

// Storage returns the fleet's shared storage.
func (c *Cluster) Storage() *Storage {
	return &Storage{c: c, held: map[string]*heldLock{}, local: map[string]chan struct{}{}}
}

func (s *Storage) etcdKey(key string) string { return s.c.key("store", strings.Trim(key, "/")) }

// Store implements storage.Storage.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	k := s.etcdKey(key)
	sealed := s.c.sealer.seal(k, value, time.Now())
	return retry(ctx, func(ctx context.Context) error {
		_, err := s.c.cli.Put(ctx, k, string(sealed))
		if err != nil {
			return fmt.Errorf("storing %s in etcd: %w", key, err)
		}
		return nil
	})
}

// Load implements storage.Storage.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	k := s.etcdKey(key)
	cctx, cancel := withDeadline(ctx)
	defer cancel()
	resp, err := s.c.cli.Get(cctx, k)
	if err != nil {
		return nil, fmt.Errorf("loading %s from etcd: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
	}
	v, _, err := s.c.sealer.open(k, resp.Kvs[0].Value)
	return v, err
}

// Delete implements storage.Storage: key and everything under it.
func (s *Storage) Delete(ctx context.Context, key string) error {
	k := s.etcdKey(key)
	return retry(ctx, func(ctx context.Context) error {
		txn := s.c.cli.Txn(ctx).Then(clientv3.OpDelete(k), clientv3.OpDelete(k+"/", clientv3.WithPrefix()))
		resp, err := txn.Commit()
		if err != nil {
			return fmt.Errorf("deleting %s from etcd: %w", key, err)
		}
		if resp.Responses[0].GetResponseDeleteRange().Deleted+resp.Responses[1].GetResponseDeleteRange().Deleted == 0 {
			return fmt.Errorf("%s: %w", key, fs.ErrNotExist)
		}
		return nil
	})
}

// Exists implements storage.Storage: a key, or a prefix with keys under it.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	_, err := s.Stat(ctx, key)
	return err == nil
}

// Stat implements storage.Storage.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	k := s.etcdKey(key)
	cctx, cancel := withDeadline(ctx)
	defer cancel()
	resp, err := s.c.cli.Get(cctx, k)
	if err != nil {
		return certmagic.KeyInfo{}, fmt.Errorf("reading %s from etcd: %w", key, err)
	}
	if len(resp.Kvs) > 0 {
		_, mtime, err := s.c.sealer.open(k, resp.Kvs[0].Value)
		if err != nil {
			return certmagic.KeyInfo{}, err
		}
		return certmagic.KeyInfo{Key: key, Modified: mtime, Size: s.c.sealer.size(resp.Kvs[0].Value), IsTerminal: true}, nil
	}
	resp, err = s.c.cli.Get(cctx, k+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return certmagic.KeyInfo{}, fmt.Errorf("reading %s from etcd: %w", key, err)
	}
	if resp.Count == 0 {
		return certmagic.KeyInfo{}, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
	}
	return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
}

// List implements storage.Storage: the keys under prefix, or only its
// direct children (files and directories) when not recursive.
func (s *Storage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	base := strings.Trim(prefix, "/")
	k := s.etcdKey(base) + "/"
	if base == "" {
		k = s.c.key("store") + "/"
	}
	cctx, cancel := withDeadline(ctx)
	defer cancel()
	resp, err := s.c.cli.Get(cctx, k, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("listing %s in etcd: %w", prefix, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("%s: %w", prefix, fs.ErrNotExist)
	}
	seen := map[string]bool{}
	var out []string
	for _, kv := range resp.Kvs {
		rel := strings.TrimPrefix(string(kv.Key), k)
		if !recursive {
			rel, _, _ = strings.Cut(rel, "/")
		}
		name := path.Join(base, rel)
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Lock implements storage.Storage. The lock is an etcd mutex on a lease of
// its own, kept alive while held: if this process dies, etcd frees it
// after lockTTL. Within the process, one goroutine at a time waits for a
// name, so no two goroutines can both hold it.
func (s *Storage) Lock(ctx context.Context, name string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, lockWait)
		defer cancel()
	}
	slot := s.localSlot(name)
	select {
	case slot <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting for lock %s: %w", name, ctx.Err())
	}
	held, err := s.acquire(ctx, name)
	if err != nil {
		<-slot
		return err
	}
	held.release = slot
	s.mu.Lock()
	s.held[name] = held
	s.mu.Unlock()
	return nil
}

func (s *Storage) localSlot(name string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.local[name]
	if !ok {
		ch = make(chan struct{}, 1)
		s.local[name] = ch
	}
	return ch
}

func (s *Storage) acquire(ctx context.Context, name string) (*heldLock, error) {
	gctx, cancel := withDeadline(ctx)
	lease, err := s.c.cli.Grant(gctx, int64(lockTTL/time.Second))
	cancel()
	if err != nil {
		return nil, fmt.Errorf("lock %s: granting an etcd lease: %w", name, err)
	}
	// The session's keep-alive lives until Unlock closes it, not with ctx.
	sess, err := concurrency.NewSession(s.c.cli, concurrency.WithLease(lease.ID))
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	m := concurrency.NewMutex(sess, s.c.key("locks", name))
	if err := m.Lock(ctx); err != nil {
		s.closeSession(sess)
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return &heldLock{session: sess, mutex: m}, nil
}

// Unlock implements storage.Storage.
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	held, ok := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("unlock %s: not held by this process", name)
	}
	defer func() { <-held.release }()
	cctx, cancel := withDeadline(context.WithoutCancel(ctx))
	err := held.mutex.Unlock(cctx)
	cancel()
	// Revoking the lease frees the lock even if the delete above failed.
	s.closeSession(held.session)
	if err != nil {
		return fmt.Errorf("unlock %s: %w (the lease expires within %s)", name, err, lockTTL)
	}
	return nil
}

func (s *Storage) closeSession(sess *concurrency.Session) {
	cctx, cancel := withDeadline(context.Background())
	defer cancel()
	s.c.cli.Revoke(cctx, sess.Lease())
	sess.Orphan()
}
