package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFileLockExcludes: a second Lock waits for Unlock.
func TestFileLockExcludes(t *testing.T) {
	s := NewFile(t.TempDir(), nil)
	ctx := context.Background()
	if err := s.Lock(ctx, "issue_cert_a.example"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	if err := s.Lock(short, "issue_cert_a.example"); err == nil {
		t.Fatal("a held lock was taken twice")
	}
	done := make(chan error, 1)
	go func() { done <- s.Lock(ctx, "issue_cert_a.example") }()
	time.Sleep(100 * time.Millisecond)
	if err := s.Unlock(ctx, "issue_cert_a.example"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter did not get the lock after Unlock")
	}
	b, _ := os.ReadFile(s.lockFile("issue_cert_a.example"))
	var m lockMeta
	if err := json.Unmarshal(b, &m); err != nil || m.Created.IsZero() {
		t.Errorf("lock file %q: %v (certmagic's format: created, updated)", b, err)
	}
}

// TestFileStaleLockLogged (issue 15, item 11): a lock left by a dead
// process (certmagic's format, not refreshed) is removed, and the gateway
// says so through its own logger, in its format, not on stderr.
func TestFileStaleLockLogged(t *testing.T) {
	var logs bytes.Buffer
	s := NewFile(t.TempDir(), slog.New(slog.NewJSONHandler(&logs, nil)))
	for name, content := range map[string]string{
		"stale": `{"created":"2026-01-01T00:00:00Z","updated":"2026-01-01T00:00:05Z"}`,
		"empty": "",
	} {
		file := s.lockFile(name)
		os.MkdirAll(filepath.Dir(file), 0o700)
		os.WriteFile(file, []byte(content), 0o644)
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
		err := s.Lock(ctx, name)
		cancel()
		if err != nil {
			t.Fatalf("%s lock: %v", name, err)
		}
		s.Unlock(context.Background(), name)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want two log lines, got:\n%s", logs.String())
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec["msg"] != "removing a stale lock" {
			t.Errorf("log line %q: %v", l, err)
		}
	}
}
