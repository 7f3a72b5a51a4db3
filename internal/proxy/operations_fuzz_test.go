package proxy

import (
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"
)

// fuzzTemplates mix literals, parameters and mixed segments, with
// overlaps that make the trie choose and back off.
var fuzzTemplates = []string{
	"/v1/orders", "/v1/orders/{id}", "/v1/orders/{id}/items/{item}", "/v1/orders/new",
	"/v1/{kind}/{id}/refund", "/v1/orders/{id}/refund", "/files/{name}.json", "/files/{name}",
	"/files/{a}-{b}.tar.gz", "/{tenant}/status", "/", "/a/b/c/{d}",
}

// templateRegexp is the independent reading of a template: each
// parameter one or more characters other than '/'.
func templateRegexp(tpl string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for rest := tpl; rest != ""; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(rest))
			break
		}
		b.WriteString(regexp.QuoteMeta(rest[:i]))
		j := strings.IndexByte(rest[i:], '}')
		b.WriteString("[^/]+")
		rest = rest[i+j+1:]
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// FuzzOperationTable holds the segment trie to a regexp per template:
// what it finds is a template whose regexp matches the path, and it finds
// nothing only when no template's regexp matches.
func FuzzOperationTable(f *testing.F) {
	for _, s := range []string{"/v1/orders/123", "/v1/orders/123/refund", "/v1/x/1/refund", "/files/a.json",
		"/files/a-b.tar.gz", "/files/.json", "/t/status", "/", "/v1/orders/", "//", "/a/b/c/", "/a/b/c/d/e"} {
		f.Add(s)
	}
	var ops []Operation
	res := map[string]*regexp.Regexp{}
	for _, t := range fuzzTemplates {
		ops = append(ops, Operation{Method: "GET", Path: t})
		res[t] = templateRegexp(t)
	}
	s, err := NewSite(SiteConfig{Name: "fuzz", Spec: &SpecConfig{Name: "fuzz", Operations: ops, Upstreams: []string{"http://127.0.0.1:9"}}},
		&Options{Log: slog.New(slog.DiscardHandler), UpstreamConnect: time.Second, UpstreamResponse: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	f.Fuzz(func(t *testing.T, path string) {
		if !strings.HasPrefix(path, "/") {
			return
		}
		po := s.ops.find(path)
		if po != nil {
			if !res[po.template].MatchString(path) {
				t.Fatalf("%q: found %s, whose pattern does not match", path, po.template)
			}
			return
		}
		for tpl, re := range res {
			if re.MatchString(path) {
				t.Fatalf("%q: nothing found, but %s matches", path, tpl)
			}
		}
	})
}
