package config

import (
	"errors"
	"os"
	"testing"
)

// fuzzSeeds are inline seeds for FuzzParse, beside the examples/ files:
// anchors, merges, flow style, wrong types and broken YAML.
var fuzzSeeds = []string{
	"",
	"sites: []\n",
	site,
	site + "---\nlog: {level: debug}\n",
	"sites:\n  - hosts: [a.example.com, \"*.b.example.com\", 192.0.2.1, \"::1\"]\n    default: true\n    routes: [{path: /api/, strip_prefix: true, upstreams: [http://127.0.0.1:9000/base]}]\n",
	"sites:\n  - &s\n    hosts: [a.example.com]\n    routes:\n      - &r {path: /, upstreams: [http://127.0.0.1:9000]}\n  - <<: *s\n    hosts: [b.example.com]\n    routes: [{<<: *r, path: /x/}, *r]\n",
	"sites:\n  - &s\n    <<: *s\n",
	"listen: {https: \":443\", http: off}\ntimeouts: {idle: 10 parsecs, shutdown: 30}\nlimits: {max_header_bytes: 1.5}\n",
	"trusted_proxies: [10.0.0.0/8, \"fe80::1%eth0\", lb]\nlog: {format: xml, level: loud, access: maybe}\n",
	"sites:\n\t- hosts: [a]\n",
	"? [a]\n: 1\n",
	"sites: &a [*a]\n",
	"log:\n  <<: [*x]\n",
	"log: {access: !!null x, level: !!binary aGVsbG8=}\nlimits: {max_header_bytes: 0x1000}\n",
	"sites: [{hosts: [a.example.com], hsts: {max_age: -1, preload: true, include_subdomains: false}, tls: {profile: old, certificate: {source: internal, cert: c.pem}}}]\n",
}

func fuzzCorpus(tb testing.TB) [][]byte {
	tb.Helper()
	var corpus [][]byte
	for _, path := range exampleFiles(tb) {
		data, err := os.ReadFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		corpus = append(corpus, data)
	}
	for _, s := range fuzzSeeds {
		corpus = append(corpus, []byte(s))
	}
	return corpus
}

func TestFuzzCorpusNotEmpty(t *testing.T) {
	t.Parallel()
	if n := len(fuzzCorpus(t)); n <= len(fuzzSeeds) {
		t.Fatalf("seed corpus has %d entries: the examples/ files are missing", n)
	}
}

// FuzzParse checks that Parse, and Validate after it, never panic, nor
// does ParseAll (which validates what decoded despite problems), and that
// every error they return is an *Error positioned sensibly.
func FuzzParse(f *testing.F) {
	for _, data := range fuzzCorpus(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(testFile, data)
		if err == nil {
			if c == nil {
				t.Fatal("Parse returned neither a config nor an error")
			}
			err = c.Validate()
		}
		c, all := ParseAll(testFile, data)
		if c == nil && all == nil {
			t.Fatal("ParseAll returned neither a config nor an error")
		}
		if (err == nil) != (all == nil) {
			t.Errorf("Parse and Validate say %v; ParseAll says %v", err, all)
		}
		for _, e := range append(flatten(err), flatten(all)...) {
			var ce *Error
			if !errors.As(e, &ce) {
				t.Errorf("%q (%T) is not a *config.Error", e, e)
				continue
			}
			if ce.Line < 0 || ce.Column < 0 {
				t.Errorf("%q: negative position in %#v", e, ce)
			}
			if ce.File != testFile {
				t.Errorf("%q: file %q, want %q", e, ce.File, testFile)
			}
		}
	})
}
