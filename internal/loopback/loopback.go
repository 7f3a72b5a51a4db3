// Package loopback says whether a host stays on this machine. The config
// (admin.listen, plain-HTTP etcd endpoints), the sidecar's plain-HTTP
// listener, the probe exporter's --listen, the admin listener's Host check
// and the OpenAPI linter all ask it, so they agree on what "loopback"
// means.
//
// It imports nothing of this module.
package loopback

import (
	"net/netip"
	"strings"
)

// Host reports whether host, the host part of an address to listen on or
// connect to, is this machine's loopback interface: "localhost" or a
// loopback IP literal (127.0.0.0/8, ::1, their IPv4-mapped forms, with or
// without a zone). The empty host, 0.0.0.0 and :: are not: they mean every
// interface. Names under .localhost are not either: RFC 6761 reserves them
// for loopback, but the system resolver need not know that (see Name).
//
// Plain HTTP and unauthenticated listeners are allowed only where Host is
// true, so a false positive exposes traffic or an endpoint to the network.
func Host(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// Name reports whether host is "localhost" or a name under ".localhost",
// which RFC 6761 reserves for loopback and browsers resolve without DNS.
// host is expected in lower case without a trailing dot.
func Name(host string) bool {
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}
