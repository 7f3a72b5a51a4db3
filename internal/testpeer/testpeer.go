// Package testpeer finds the real programs integration tests talk to
// (curl, openssl, nginx, ...). Under CI=true a missing program fails the
// test: CI must never pass by skipping. Elsewhere the test is skipped with
// a message naming the package to install ('make test' installs them all).
package testpeer

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Require returns the path of program, or ends the test.
func Require(t testing.TB, program string) string {
	t.Helper()
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
		t.Fatalf("%s is not installed; CI needs every real test peer (run 'make test-deps')", program)
	}
	t.Skipf("%s is not installed: run 'make test-deps' (CI=true turns this skip into a failure)", program)
	return ""
}

// ClosedAddr returns a 127.0.0.1 address nothing listens on (a port that
// was free a moment ago), for tests of unreachable peers.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
