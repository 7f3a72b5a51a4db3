// Package hostmap finds the value for a host name among exact names,
// "*.example.com" wildcards and IP addresses. The TLS layer (by SNI) and the
// HTTP layer (by Host) use the same map, so they always agree on the site.
//
// It imports nothing of this module.
package hostmap

import (
	"net"
	"strings"
)

// Map is read-only after construction and safe for concurrent lookups.
type Map[T any] struct {
	exact    map[string]T
	wildcard map[string]T // "example.com" for "*.example.com"
}

// New returns an empty map.
func New[T any]() *Map[T] {
	return &Map[T]{exact: map[string]T{}, wildcard: map[string]T{}}
}

// Add maps host (an exact name, a wildcard "*.suffix" or an IP) to v.
func (m *Map[T]) Add(host string, v T) {
	host = Normalize(host)
	if suffix, ok := strings.CutPrefix(host, "*."); ok {
		m.wildcard[suffix] = v
		return
	}
	m.exact[host] = v
}

// Lookup finds host. An exact name wins over a wildcard; a wildcard
// matches exactly one non-empty label, as in certificates.
func (m *Map[T]) Lookup(host string) (T, bool) {
	host = Normalize(host)
	if v, ok := m.exact[host]; ok {
		return v, true
	}
	if label, suffix, ok := strings.Cut(host, "."); ok && label != "" {
		if v, ok := m.wildcard[suffix]; ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// Normalize lower-cases host, strips a port, IPv6 brackets and a trailing
// dot: "API.Example.com.:443" and "[::1]:8443" become "api.example.com" and
// "::1". Only ASCII letters are folded: names on the wire are ASCII (IDNs
// travel as punycode), and Unicode folding would turn the Kelvin sign into
// "k".
//
// Normalize is idempotent, so callers may normalise before Lookup (which
// normalises again) and still agree with callers that do not. A host that
// one pass would leave still changeable ("example.com..", "[[::1]]",
// "[a.example.com:443]") is malformed and becomes "", which matches nothing.
func Normalize(host string) string {
	n := normalizeOnce(host)
	if normalizeOnce(n) != n {
		return ""
	}
	return n
}

func normalizeOnce(host string) string {
	// SplitHostPort fails, and allocates its error, on a host without a
	// colon: the usual Host header, checked on every request.
	if strings.IndexByte(host, ':') >= 0 {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	host = strings.TrimSuffix(host, ".")
	// Fast path: most hosts are already lower case.
	for i := 0; i < len(host); i++ {
		if c := host[i]; c >= 'A' && c <= 'Z' {
			b := []byte(host)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + ('a' - 'A')
				}
			}
			return string(b)
		}
	}
	return host
}
