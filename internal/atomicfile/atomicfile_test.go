package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// leftovers lists the temporary files left in dir.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "key.pem")
	for _, tc := range []struct {
		data string
		mode os.FileMode
	}{{"first", 0o600}, {"second, longer", 0o644}} {
		if err := Write(path, []byte(tc.data), tc.mode); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != tc.data {
			t.Fatalf("read %q (%v), want %q", got, err, tc.data)
		}
		// The mode is exact, whatever the umask.
		if fi, _ := os.Stat(path); fi.Mode().Perm() != tc.mode {
			t.Errorf("mode %v, want %v", fi.Mode().Perm(), tc.mode)
		}
	}
	if l := leftovers(t, dir); l != nil {
		t.Errorf("temporary files left: %q", l)
	}
	err := Write(filepath.Join(dir, "missing", "x"), nil, 0o644)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "missing", "x")) {
		t.Errorf("write into a missing directory: %v, want an error naming the path", err)
	}
}

// TestWriteReplacesSymlink: a symlink at the path is replaced by the
// file, and its target is left alone.
func TestWriteReplacesSymlink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("keep"), 0o644)
	link := filepath.Join(dir, "out.pem")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	if err := Write(link, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Error("wrote through the symlink")
	}
	if fi, err := os.Lstat(link); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("%s is %v (%v), want a regular file", link, fi.Mode(), err)
	}
}

func TestWriteIn(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := WriteIn(root, "a.key", []byte("one"), 0o600, false); err != nil {
		t.Fatal(err)
	}
	// Without replace an existing name, even a dangling symlink, is refused.
	os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "dangling"))
	for _, name := range []string{"a.key", "dangling"} {
		if err := WriteIn(root, name, []byte("two"), 0o600, false); !errors.Is(err, fs.ErrExist) {
			t.Errorf("%s: %v, want fs.ErrExist", name, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "nowhere")); err == nil {
		t.Error("wrote through the dangling symlink")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.key")); string(b) != "one" {
		t.Errorf("refused write changed the file: %q", b)
	}
	if err := WriteIn(root, "a.key", []byte("two"), 0o600, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.key")); string(b) != "two" {
		t.Errorf("replace: %q", b)
	}
	// Nothing escapes the root.
	for _, name := range []string{"../escape", "/etc/escape"} {
		if err := WriteIn(root, name, []byte("x"), 0o644, true); err == nil {
			t.Errorf("%s: written outside the root", name)
		}
	}
	if l := leftovers(t, dir); l != nil {
		t.Errorf("temporary files left: %q", l)
	}
}

// TestWriteFileAtomic is internal/ca's test of the writer it had before
// this package, moved with it.
func TestWriteFileAtomic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := Write(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("two"), 0o640); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(p); string(data) != "two" {
		t.Errorf("content = %q, want two", data)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode = %04o, want 0640", fi.Mode().Perm())
	}
	// A failed rename (the target is a non-empty directory) leaves no
	// temporary file behind.
	target := filepath.Join(dir, "d")
	if err := os.MkdirAll(filepath.Join(target, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := Write(target, []byte("x"), 0o600); err == nil {
		t.Fatal("writing over a directory succeeded")
	}
	names := dirNames(t, dir)
	slices.Sort(names)
	if !slices.Equal(names, []string{"d", "f"}) {
		t.Errorf("directory holds %q after writes, want only d and f", names)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
