package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
)

// File is the filesystem storage: certmagic's FileStorage for keys and
// values (atomic writes, private keys 0600), with locks of its own.
// certmagic's lock code logs to its package logger on stderr, outside the
// gateway's log and format ("1.79e+09 info [FileStorage:…] Lock … is
// stale"); these locks keep its file format, so processes of either kind
// exclude each other, and report through the gateway's *slog.Logger.
type File struct {
	*certmagic.FileStorage
	log *slog.Logger

	mu   sync.Mutex
	held map[string]chan struct{} // lock name -> stops its heartbeat
}

// NewFile returns the filesystem storage rooted at dir (created 0700 on
// first write). log receives what happens to locks (a stale one removed,
// a heartbeat that fails); nil discards it.
func NewFile(dir string, log *slog.Logger) *File {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &File{FileStorage: &certmagic.FileStorage{Path: dir}, log: log, held: map[string]chan struct{}{}}
}

// Lock timing, as certmagic's: a holder rewrites its lock file every
// lockRefresh; one not rewritten for two of them belongs to a process
// that died, and is removed. A waiter looks again every lockPoll.
const (
	lockRefresh = 5 * time.Second
	lockStale   = 2 * lockRefresh
	lockPoll    = time.Second
	// An empty lock file is a holder between create and write, unless it
	// stays empty this long (a crash in between).
	lockEmptyGrace = 2 * time.Second
)

// lockMeta is the lock file's content, certmagic's format.
type lockMeta struct {
	Created time.Time `json:"created,omitempty"`
	Updated time.Time `json:"updated,omitempty"`
}

func (s *File) lockFile(name string) string {
	return filepath.Join(s.Path, "locks", certmagic.StorageKeys.Safe(name)+".lock")
}

// Lock blocks until the named lock is held or ctx ends.
func (s *File) Lock(ctx context.Context, name string) error {
	file := s.lockFile(name)
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("creating the lock directory: %w", err)
	}
	var emptySince time.Time
	for {
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			now := time.Now()
			err = json.NewEncoder(f).Encode(lockMeta{Created: now, Updated: now})
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(file)
				return fmt.Errorf("writing lock file %s: %w", file, err)
			}
			s.hold(name, file)
			return nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("creating lock file: %w", err)
		}
		stale, why := false, ""
		switch b, err := os.ReadFile(file); {
		case errors.Is(err, fs.ErrNotExist):
			continue // released meanwhile
		case err != nil:
			return fmt.Errorf("reading lock file: %w", err)
		case len(b) == 0:
			if emptySince.IsZero() {
				emptySince = time.Now()
			}
			stale, why = time.Since(emptySince) > lockEmptyGrace, "empty (its holder stopped between creating and writing it)"
		default:
			var m lockMeta
			if err := json.Unmarshal(b, &m); err != nil {
				stale, why = true, "unreadable: "+err.Error()
				break
			}
			ref := m.Updated
			if ref.IsZero() {
				ref = m.Created
			}
			stale = time.Since(ref) > lockStale
			why = fmt.Sprintf("not refreshed since %s (its holder stopped)", ref.UTC().Format(time.RFC3339))
		}
		if stale {
			s.log.Info("removing a stale lock", "lock", name, "file", file, "why", why)
			if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("removing stale lock file %s: %w", file, err)
			}
			emptySince = time.Time{}
			continue
		}
		select {
		case <-time.After(lockPoll):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// hold keeps a held lock's file fresh until Unlock.
func (s *File) hold(name, file string) {
	stop := make(chan struct{})
	s.mu.Lock()
	if old, ok := s.held[name]; ok {
		close(old)
	}
	s.held[name] = stop
	s.mu.Unlock()
	go func() {
		t := time.NewTicker(lockRefresh)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			b, err := os.ReadFile(file)
			var m lockMeta
			if err == nil {
				err = json.Unmarshal(b, &m)
			}
			if err == nil {
				m.Updated = time.Now()
				b, _ = json.Marshal(m)
				err = os.WriteFile(file, b, 0o644)
			}
			if err != nil {
				s.log.Warn("cannot keep a lock fresh; another process may take it", "lock", name, "file", file, "err", err)
				return
			}
		}
	}()
}

// Unlock releases the named lock.
func (s *File) Unlock(_ context.Context, name string) error {
	s.mu.Lock()
	if stop, ok := s.held[name]; ok {
		close(stop)
		delete(s.held, name)
	}
	s.mu.Unlock()
	return os.Remove(s.lockFile(name))
}
