// Package testpeer finds the real programs integration tests talk to
// (curl, openssl, nginx, Pebble, ...) and runs some of them. Under CI=true a
// missing program fails the test: CI must never pass by skipping. Elsewhere
// the test is skipped with a message naming the make target that installs
// it ('make test' installs them all).
//
// Test code only; it imports internal/pkitest.
package testpeer

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Require returns the path of program, or ends the test. The repository's
// own bin/ (where 'make tools' installs pinned programs such as pebble) is
// searched first, so a pinned build wins over an older one in PATH.
func Require(t testing.TB, program string) string {
	t.Helper()
	if root, err := repoRoot(); err == nil {
		if p, err := exec.LookPath(filepath.Join(root, "bin", program)); err == nil {
			return p
		}
	}
	p, err := exec.LookPath(program)
	if err == nil {
		return p
	}
	// Daemons such as nginx live in sbin, which a non-login PATH may lack.
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		if p, err := exec.LookPath(filepath.Join(dir, program)); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed; CI needs every real test peer (run 'make test-deps tools')", program)
	}
	t.Skipf("%s is not installed: run 'make test-deps tools' (CI=true turns this skip into a failure)", program)
	return ""
}

// repoRoot returns the nearest directory above the working directory (a
// test's package directory) that holds go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// ClosedAddr returns a 127.0.0.1 address nothing listens on (a port that
// was free a moment ago), for tests of unreachable peers.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	// A port from FreePort's range, never bound: an ephemeral port closed
	// here could be the next one a parallel test's listener gets (a
	// "closed port" probe then met another test's TLS server in CI).
	return fmt.Sprintf("127.0.0.1:%d", FreePort(t))
}

// FreePort returns a loopback TCP port that was free a moment ago, for a
// server the test starts itself. It comes from below the kernel's
// ephemeral range, so an outgoing connection cannot take it before the
// server binds it, and it is never handed out twice in one test binary.
func FreePort(t testing.TB) int {
	t.Helper()
	return stablePort(t, false)
}

// StartNginx runs nginx in the foreground with the http{} block body given
// (temp paths and logs inside dir are provided), waits until addr accepts
// connections, and stops it when the test ends.
func StartNginx(t testing.TB, dir, httpBody, addr string) {
	t.Helper()
	nginx := Require(t, "nginx")
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "nginx.conf")
	body := fmt.Sprintf(`worker_processes 1; pid %[1]s/nginx.pid; error_log %[1]s/error.log warn;
events { worker_connections 64; }
http { access_log off; client_body_temp_path %[2]s; proxy_temp_path %[2]s;
  fastcgi_temp_path %[2]s; uwsgi_temp_path %[2]s; scgi_temp_path %[2]s;
%[3]s
}
`, dir, tmp, httpBody)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-p", dir, "-c", conf, "-g", "daemon off;")
	cmd.Stderr = os.Stderr
	// Its own process group: killing only the master (as a cancelled
	// exec.CommandContext does) leaves its workers running, holding the
	// test's port, after the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pgid := cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM) // fast shutdown: the master stops its workers
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		syscall.Kill(-pgid, syscall.SIGKILL) // whatever is left
		<-done
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nginx does not listen on %s after 10s (see %s/error.log)", addr, dir)
}
