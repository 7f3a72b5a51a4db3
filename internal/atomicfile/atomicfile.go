// Package atomicfile writes files so that a reader, or the file system
// after a crash or power loss, sees the old content or the new, never a
// part of it: the data goes to a temporary file in the same directory,
// which is synced, then renamed (or linked) into place, and the directory
// is synced so that the new name itself is durable.
//
// Private keys are written through it: a key file that is created with its
// final mode before any byte is written, whatever the umask, and never
// half-written.
//
// It imports nothing of this module.
package atomicfile

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Write replaces the file at path with data, mode exactly mode. A symlink
// at path is replaced, not followed. The directory must exist. Errors name
// path.
func Write(path string, data []byte, mode os.FileMode) error {
	root, err := os.OpenRoot(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer root.Close()
	if err := WriteIn(root, filepath.Base(path), data, mode, true); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// WriteIn writes name, a path relative to root, through root, so neither
// ".." nor a symlink can take the write outside it. With replace, the file
// is renamed over whatever is at name (a symlink there is replaced, never
// followed). Without, it is hard-linked into place, which fails with an
// error matching fs.ErrExist if anything, even a dangling symlink, is at
// name; where hard links are not supported (FAT), the file is created with
// O_EXCL instead, which also refuses an existing name but is not atomic.
func WriteIn(root *os.Root, name string, data []byte, mode os.FileMode, replace bool) error {
	dir, base := filepath.Split(name)
	tmp := filepath.Join(dir, "."+base+".tmp"+rand.Text()[:8])
	if err := create(root, tmp, data, mode); err != nil {
		return err
	}
	defer root.Remove(tmp) // fails harmlessly once renamed; removes the linked original
	if replace {
		if err := root.Rename(tmp, name); err != nil {
			return err
		}
	} else if err := root.Link(tmp, name); errors.Is(err, fs.ErrExist) {
		return err
	} else if err != nil {
		if err := create(root, name, data, mode); err != nil {
			return err
		}
	}
	return syncDir(root, dir)
}

// create makes name (O_EXCL: never an existing file or symlink) with
// exactly mode, whatever the umask, and writes and syncs data.
func create(root *os.Root, name string, data []byte, mode os.FileMode) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		root.Remove(name)
	}
	return err
}

// syncDir makes a new name in dir durable. File systems that cannot sync a
// directory (EINVAL) are let be: the rename is as durable as they make it.
func syncDir(root *os.Root, dir string) error {
	if dir == "" {
		dir = "."
	}
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}
