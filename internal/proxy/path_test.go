package proxy

import (
	"net/url"
	"path"
	"strings"
	"testing"
)

// FuzzNormalisePath holds normalisePath to its invariant: for any path it
// accepts, an upstream that decodes escapes and then resolves dot
// segments and repeated slashes (nginx, most frameworks) reaches the path
// the gateway matched its route on; the result is normal (idempotent, no
// dot segments, no empty segments) and keeps its escapes well formed.
func FuzzNormalisePath(f *testing.F) {
	for _, s := range []string{
		"/", "/a/b", "/public/../internal/x", "/public/%2e%2e/internal/x", "/public/.%2E/x",
		"//a//b/", "/a/./b/../c/", "/../..", "/%70ublic", "/a%20b", "/a%2fb", "/a%5c", "/a;b",
		"/a/..;/b", "/%252e%252e/", "/a%00", "/a%zz", "/a/%2e", "/a/.%2e/", "*", "", "a/b",
		"/a/b/..", "/a%25b", "/%7e/%41",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		clean, refuse := normalisePath(p)
		if refuse != "" {
			if clean != "" {
				t.Fatalf("%q refused (%s) but cleaned to %q", p, refuse, clean)
			}
			return
		}
		if clean == "" || clean[0] != '/' {
			t.Fatalf("%q -> %q: not absolute", p, clean)
		}
		if again, why := normalisePath(clean); again != clean || why != "" {
			t.Fatalf("not idempotent: %q -> %q -> %q (%s)", p, clean, again, why)
		}
		decoded, err := url.PathUnescape(clean)
		if err != nil {
			t.Fatalf("%q -> %q: escapes broken: %v", p, clean, err)
		}
		inner := strings.TrimSuffix(clean[1:], "/")
		if inner != "" {
			for _, seg := range strings.Split(inner, "/") {
				if seg == "" || seg == "." || seg == ".." {
					t.Fatalf("%q -> %q: segment %q left", p, clean, seg)
				}
			}
		}
		// What a decoding, dot-resolving upstream makes of the input and
		// of what is forwarded must be what the route matched on.
		orig, err := url.PathUnescape(p)
		if err != nil {
			t.Fatalf("%q accepted with broken escapes", p)
		}
		if got, want := path.Clean(decoded), path.Clean("/"+orig); got != want {
			t.Fatalf("%q: the gateway matched %q, an upstream resolves %q", p, decoded, want)
		}
		if path.Clean(decoded) != strings.TrimSuffix(decoded, "/") && decoded != "/" {
			t.Fatalf("%q -> %q: decoded %q is not clean", p, clean, decoded)
		}
	})
}
