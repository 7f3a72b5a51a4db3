// Package datadir decides where tlsgate keeps its state.
//
// It imports nothing of this module.
package datadir

import (
	"os"
	"path/filepath"
)

// Resolve returns the data directory: flag if set, else $TLSGATE_DATA_DIR,
// else $XDG_DATA_HOME/tlsgate, else ~/.local/share/tlsgate.
func Resolve(flag string) string {
	if flag != "" {
		return flag
	}
	if d := os.Getenv("TLSGATE_DATA_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "tlsgate")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "tlsgate")
	}
	return filepath.Join(home, ".local", "share", "tlsgate")
}

// CA is the directory of the internal CA inside dir.
func CA(dir string) string { return filepath.Join(dir, "ca") }

// ACME is the directory of ACME accounts, certificates and locks.
func ACME(dir string) string { return filepath.Join(dir, "acme") }
