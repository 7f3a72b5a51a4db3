package cluster

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

func TestUnreachable(t *testing.T) {
	t.Parallel()
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	upURL, downURL := "https://"+up.Addr().String(), "http://"+closed.Addr().String()
	start := time.Now()
	got := unreachable(context.Background(), []string{upURL, downURL})
	if took := time.Since(start); took > reachTimeout {
		t.Errorf("took %v", took)
	}
	if _, ok := got[upURL]; ok || len(got) != 1 {
		t.Errorf("got %v, want only %s", got, downURL)
	}
	if want := "connection refused by " + closed.Addr().String(); !strings.HasPrefix(got[downURL], want) {
		t.Errorf("%s: %q, want %q", downURL, got[downURL], want)
	}
	for ep, want := range map[string]string{
		"https://10.0.0.1:2379": "10.0.0.1:2379",
		"http://etcd-a":         "etcd-a:2379",
		"[::1]:2379":            "[::1]:2379",
		"etcd-b":                "etcd-b:2379",
	} {
		if got := hostPort(ep); got != want {
			t.Errorf("hostPort(%q) = %q, want %q", ep, got, want)
		}
	}
}
