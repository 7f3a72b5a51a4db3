package hostmap_test

import (
	"strings"
	"testing"

	"github.com/tlsgate/tlsgate/internal/hostmap"
)

func testMap() *hostmap.Map[string] {
	m := hostmap.New[string]()
	m.Add("example.com", "apex")
	m.Add("*.example.com", "wild")
	m.Add("api.example.com", "api")
	m.Add("*.Internal.Example.ORG.", "internal-wild") // normalised on Add
	m.Add("127.0.0.1", "v4")
	m.Add("::1", "v6")
	m.Add("[2001:db8::1]", "v6-bracketed")
	return m
}

func TestLookup(t *testing.T) {
	t.Parallel()
	m := testMap()
	tests := []struct {
		host string
		want string // "" means not found
	}{
		// Exact names beat wildcards.
		{"example.com", "apex"},
		{"api.example.com", "api"},
		{"www.example.com", "wild"},
		// A wildcard matches exactly one, non-empty label.
		{"a.b.example.com", ""},
		{".example.com", ""},
		{"xexample.com", ""},
		{"com", ""},
		// Case, ports, brackets, a trailing dot.
		{"API.Example.COM", "api"},
		{"api.example.com.", "api"},
		{"api.example.com:443", "api"},
		{"API.EXAMPLE.COM.:8443", "api"},
		{"WWW.example.com:443", "wild"},
		{"x.internal.example.org", "internal-wild"},
		{"X.INTERNAL.EXAMPLE.ORG.:1", "internal-wild"},
		{"127.0.0.1", "v4"},
		{"127.0.0.1:8443", "v4"},
		{"127.0.0.2", ""},
		{"::1", "v6"},
		{"[::1]", "v6"},
		{"[::1]:8443", "v6"},
		{"2001:db8::1", "v6-bracketed"},
		{"[2001:DB8::1]:443", "v6-bracketed"},
		// Not names we serve, including malformed variants of them.
		{"", ""},
		{"example.org", ""},
		{"example.com..", ""},
		{"[[::1]]", ""},
		{"[api.example.com:443]", ""},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			t.Parallel()
			got, ok := m.Lookup(tt.host)
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tt.host, got, ok, tt.want, tt.want != "")
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"example.com", "example.com"},
		{"API.Example.com.:443", "api.example.com"},
		{"[::1]:8443", "::1"},
		{"[::1]", "::1"},
		{"::1", "::1"},
		{"127.0.0.1:80", "127.0.0.1"},
		{"example.com:", "example.com"},
		{"*.Example.com", "*.example.com"},
		// Only ASCII is folded: host names on the wire are ASCII (IDNs in
		// punycode), and Unicode folding would alias the Kelvin sign to "k".
		{"A\u212A.com", "a\u212A.com"},
		// Inputs a second pass would still change are malformed; they
		// normalise to "" so that Normalize is idempotent.
		{"example.com..", ""},
		{"[[::1]]", ""},
		{"[a.example.com:443]", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := hostmap.Normalize(tt.in); got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestWildcardDoesNotShadowOtherSuffixes(t *testing.T) {
	t.Parallel()
	m := hostmap.New[int]()
	m.Add("*.b.example.com", 1)
	m.Add("*.example.com", 2)
	for host, want := range map[string]int{"a.b.example.com": 1, "b.example.com": 2, "x.example.com": 2} {
		if got, ok := m.Lookup(host); !ok || got != want {
			t.Errorf("Lookup(%q) = %d, %v; want %d", host, got, ok, want)
		}
	}
}

func FuzzNormalizeLookup(f *testing.F) {
	for _, s := range []string{
		"example.com", "API.Example.com.:443", "[::1]:8443", "[::1]", "127.0.0.1:80",
		"www.example.com", "a.b.example.com", ".example.com", "example.com..",
		"[[::1]]", "[a.example.com:443]", "x.internal.example.org.", "", ":", "[", "]",
		"A\u212A.com", "\u0130.example.com", "*.example.com",
	} {
		f.Add(s)
	}
	m := testMap()
	f.Fuzz(func(t *testing.T, host string) {
		n := hostmap.Normalize(host)
		if n2 := hostmap.Normalize(n); n2 != n {
			t.Fatalf("Normalize is not idempotent: %q -> %q -> %q", host, n, n2)
		}
		if strings.ContainsAny(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			t.Fatalf("Normalize(%q) = %q has upper case", host, n)
		}
		v1, ok1 := m.Lookup(host)
		v2, ok2 := m.Lookup(n)
		if v1 != v2 || ok1 != ok2 {
			t.Fatalf("Lookup(%q) = %q, %v but Lookup(Normalize) = Lookup(%q) = %q, %v", host, v1, ok1, n, v2, ok2)
		}
	})
}
