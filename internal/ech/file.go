package ech

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/tlsgate/tlsgate/internal/atomicfile"
)

// FileName is the ring's file in the data dir.
const FileName = "ech-keys.json"

// Load reads the ring in path; a missing file is an empty ring.
func Load(path string) (Ring, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Ring{}, nil
	}
	if err != nil {
		return Ring{}, fmt.Errorf("reading the ECH keys: %w", err)
	}
	// As for TLS keys (package certs): whoever reads these reads every
	// ECH client's real server name.
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o004 != 0 {
		return Ring{}, fmt.Errorf("ECH keys %s have mode %04o: other users can read the private keys: run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	var r Ring
	if err := json.Unmarshal(b, &r); err != nil {
		return Ring{}, fmt.Errorf("ECH keys %s: %w (delete the file to start over with new keys)", path, err)
	}
	if err := r.Check(); err != nil {
		return Ring{}, fmt.Errorf("ECH keys %s: %w (delete the file to start over with new keys)", path, err)
	}
	return r, nil
}

// Save writes r to path (mode 0600: it holds private keys), atomically.
func Save(path string, r Ring) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("saving the ECH keys: %w", err)
	}
	if err := atomicfile.Write(path, b, 0o600); err != nil {
		return fmt.Errorf("saving the ECH keys: %w", err)
	}
	return nil
}

// LoadOrUpdate reads the ring in path, brings it up to date for s at now
// (see Ring.Update) and saves it when that changed it.
func LoadOrUpdate(path string, s Settings, now time.Time) (Ring, error) {
	r, err := Load(path)
	if err != nil {
		return Ring{}, err
	}
	next, changed, err := r.Update(s, now)
	if err != nil {
		return Ring{}, err
	}
	if changed {
		if err := Save(path, next); err != nil {
			return Ring{}, err
		}
	}
	return next, nil
}
