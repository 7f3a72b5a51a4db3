package ca

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

func TestOutput(t *testing.T) {
	t.Parallel()
	a := newCA(t)
	cert, err := a.Issue(Leaf{Names: []string{"payments"}, Client: true, Validity: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	files, err := Output("payments", cert, true)
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]os.FileMode{}
	var names []string
	for _, f := range files {
		modes[f.Name] = f.Mode
		names = append(names, f.Name)
	}
	want := map[string]os.FileMode{"payments.key": 0o600, "payments.pem": 0o644, "payments.chain.pem": 0o644, "payments.p12": 0o600, "payments.p12.pass": 0o600}
	for n, m := range want {
		if modes[n] != m {
			t.Errorf("%s: mode %04o, want %04o", n, modes[n], m)
		}
	}
	if names[0] != "payments.key" {
		t.Errorf("written first: %s, want the key", names[0])
	}
	listed := OutputNames("payments", true)
	slices.Sort(listed)
	slices.Sort(names)
	if !slices.Equal(listed, names) {
		t.Errorf("OutputNames %q, Output writes %q", listed, names)
	}
	pass := strings.TrimSpace(string(files[slices.IndexFunc(files, func(f OutputFile) bool { return f.Name == "payments.p12.pass" })].Data))
	bundle := files[slices.IndexFunc(files, func(f OutputFile) bool { return f.Name == "payments.p12" })].Data
	key, leaf, cas, err := pkcs12.DecodeChain(bundle, pass)
	if err != nil || key == nil || leaf.Subject.CommonName != "payments" || len(cas) != 1 {
		t.Fatalf("PKCS#12: %v (leaf %v, %d CA certificates)", err, leaf, len(cas))
	}
	if len(pass) != 24 {
		t.Errorf("password %q: want 24 characters (144 bits)", pass)
	}
	if files, _ := Output("x", cert, false); len(files) != 3 {
		t.Errorf("without p12: %d files, want 3", len(files))
	}
}

func TestOutDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "out", "sub")
	d, err := CreateOutDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("created with mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
	files := []OutputFile{{"a.key", []byte("key"), 0o600}, {"a.pem", []byte("cert"), 0o644}}
	if err := d.CheckFree([]string{"a.key", "a.pem"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Write(files, false); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		fi, err := os.Stat(filepath.Join(dir, f.Name))
		if err != nil || fi.Mode().Perm() != f.Mode {
			t.Errorf("%s: mode %v (%v), want %v", f.Name, fi.Mode().Perm(), err, f.Mode)
		}
	}
	var ee *ExistsError
	if err := d.CheckFree([]string{"b.pem", "a.pem"}); !errors.As(err, &ee) || ee.Path != filepath.Join(dir, "a.pem") || !errors.Is(err, fs.ErrExist) {
		t.Errorf("CheckFree: %v, want an ExistsError for a.pem", err)
	}
	if err := d.Write(files, false); !errors.As(err, &ee) || err.Error() != filepath.Join(dir, "a.key")+" already exists" {
		t.Errorf("Write without replace: %v", err)
	}
	if err := d.Write([]OutputFile{{"a.pem", []byte("new"), 0o644}}, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.pem")); string(b) != "new" {
		t.Errorf("replace: %q", b)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := CreateOutDir(file); err == nil || !strings.Contains(err.Error(), file+" is not a directory") {
		t.Errorf("a file as the directory: %v", err)
	}
}

func TestDaysLeft(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, tc := range []struct {
		left time.Duration
		want int
	}{{30*24*time.Hour - time.Second, 30}, {36 * time.Hour, 2}, {11 * time.Hour, 0}, {-48 * time.Hour, -2}} {
		if got := (Record{NotAfter: now.Add(tc.left)}).DaysLeft(now); got != tc.want {
			t.Errorf("%v left: %d days, want %d", tc.left, got, tc.want)
		}
	}
}
