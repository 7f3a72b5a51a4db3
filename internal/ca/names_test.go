package ca

import (
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// TestIssueRefusesBadNames: the library itself refuses names that are no
// DNS name, IP address or client name, so no caller can put a path into a
// certificate (or, through it, into a file name).
func TestIssueRefusesBadNames(t *testing.T) {
	t.Parallel()
	a := newCA(t)
	spiffe, _ := url.Parse("spiffe://example.org/payments")
	withUser, _ := url.Parse("spiffe://user:pw@example.org/payments")
	cases := []struct {
		name string
		leaf Leaf
	}{
		{"traversal", Leaf{Names: []string{"../../evil.test"}}},
		{"dotdot", Leaf{Names: []string{".."}}},
		{"dot", Leaf{Names: []string{"."}}},
		{"slash", Leaf{Names: []string{"a/b"}}},
		{"backslash", Leaf{Names: []string{`a\b`}}},
		{"empty", Leaf{Names: []string{""}}},
		{"none", Leaf{}},
		{"control", Leaf{Names: []string{"a\x00b"}}},
		{"second name", Leaf{Names: []string{"ok.test", "a b"}}},
		{"client traversal", Leaf{Names: []string{"../svc"}, Client: true}},
		{"client wildcard SAN", Leaf{Names: []string{"svc", "*.example.com"}, Client: true}},
		{"URI with user info", Leaf{Names: []string{"svc"}, Client: true, URIs: []*url.URL{withUser}}},
	}
	for _, c := range cases {
		if _, err := a.Issue(c.leaf); err == nil {
			t.Errorf("%s: %q issued", c.name, c.leaf.Names)
		}
	}
	// And what should work still does.
	for _, l := range []Leaf{
		{Names: []string{"api.internal", "*.api.internal", "10.0.0.5", "2001:db8::1"}},
		{Names: []string{"payments"}, Client: true, URIs: []*url.URL{spiffe}},
		{Names: []string{"alice@example.com", "alice.example.com"}, Client: true},
	} {
		c, err := a.Issue(l)
		if err != nil {
			t.Errorf("%q: %v", l.Names, err)
			continue
		}
		if c.Leaf.Subject.CommonName != l.Names[0] {
			t.Errorf("%q: CN %q", l.Names, c.Leaf.Subject.CommonName)
		}
		if strings.Contains(l.Names[0], "@") && len(c.Leaf.DNSNames) != 1 {
			t.Errorf("client name %q became a DNS SAN: %q", l.Names[0], c.Leaf.DNSNames)
		}
	}
}

func TestNameRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		check func(string) error
		kind  string
		in    string
		want  string // "" = accepted; else a fragment of the error
	}{
		{server, "server", "api.internal", ""},
		{server, "server", "*.api.internal", ""},
		{server, "server", "xn--bcher-kva.example", ""},
		{server, "server", "a-b.c1", ""},
		{server, "server", "127.0.0.1", ""},
		{server, "server", "::1", ""},
		{server, "server", "2001:db8::1", ""},
		{server, "server", "../../evil.test", `"../../evil.test" is not a DNS name: labels may hold letters, digits and hyphens`},
		{server, "server", "..", "a label is empty"},
		{server, "server", ".", "a label is empty"},
		{server, "server", "a.test.", "a label is empty"},
		{server, "server", "", "is empty"},
		{server, "server", "*.", "is empty"},
		{server, "server", "a/b", "letters, digits and hyphens"},
		{server, "server", `a\b`, "letters, digits and hyphens"},
		{server, "server", "a b", "letters, digits and hyphens"},
		{server, "server", "a\tb", "letters, digits and hyphens"},
		{server, "server", "a_b.test", "letters, digits and hyphens"},
		{server, "server", "-a.test", "hyphen"},
		{server, "server", "a-.test", "hyphen"},
		{server, "server", "API.test", "lower case (api.test)"},
		{server, "server", "bücher.example", "A-label (xn--"},
		{server, "server", "a.*.test", "whole first label"},
		{server, "server", "**.test", "whole first label"},
		{server, "server", strings.Repeat("a", 64) + ".test", "63"},
		{server, "server", "fe80::1%eth0", "drop the zone (fe80::1)"},
		{server, "server", "1::2::3", "not IPv4 or IPv6"},
		{client, "client SAN", "*.example.com", "only for server certificates"},
		{client, "client SAN", "svc.internal", ""},
		{CheckClientName, "client", "payments", ""},
		{CheckClientName, "client", "Billing_v2", ""},
		{CheckClientName, "client", "alice@example.com", ""},
		{CheckClientName, "client", "10.0.0.5", ""},
		{CheckClientName, "client", "", "is empty"},
		{CheckClientName, "client", ".svc", "begin with a letter or digit"},
		{CheckClientName, "client", "-svc", "begin with a letter or digit"},
		{CheckClientName, "client", "..", "begin with a letter or digit"},
		{CheckClientName, "client", "a..b", `no ".."`},
		{CheckClientName, "client", "svc.", "trailing dot"},
		{CheckClientName, "client", "a/b", "letters, digits, '.', '-', '_' and '@'"},
		{CheckClientName, "client", `a\b`, "letters, digits"},
		{CheckClientName, "client", "a b", "letters, digits"},
		{CheckClientName, "client", "a\nb", "letters, digits"},
		{CheckClientName, "client", "*.svc", "begin with"},
		{CheckClientName, "client", "a:b", "letters, digits"},
		{CheckClientName, "client", strings.Repeat("a", 65), "64"},
		{uri, "uri", "spiffe://example.org/ns/prod/sa/payments", ""},
		{uri, "uri", "urn:example:svc", ""},
		{uri, "uri", "example.org/svc", "scheme"},
		{uri, "uri", "/svc", "scheme"},
		{uri, "uri", "spiffe:///svc", "host"},
		{uri, "uri", "spiffe://user@example.org/svc", "user info"},
		{uri, "uri", "spiffe://example.org/svc#x", "fragment"},
		{uri, "uri", "spiffe://example.org/a b", "spaces"},
		{uri, "uri", "%zz", "does not parse"},
	}
	for _, c := range cases {
		err := c.check(c.in)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s %q: %v", c.kind, c.in, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s %q: %v, want %q", c.kind, c.in, err, c.want)
		case err != nil && !errors.As(err, new(*NameError)):
			t.Errorf("%s %q: %T is not a *NameError", c.kind, c.in, err)
		}
	}
}

func server(s string) error { return CheckHost(s, true) }
func client(s string) error { return CheckHost(s, false) }
func uri(s string) error    { _, err := ParseURI(s); return err }

func TestFileName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"api.internal":      "api.internal",
		"*.api.internal":    "_.api.internal",
		"2001:db8::1":       "2001_db8__1",
		"10.0.0.5":          "10.0.0.5",
		"alice@example.com": "alice@example.com",
		"..":                "",
		".":                 "",
		"":                  "",
		"../x":              "",
		"a/b":               "",
		`a\b`:               "",
		".hidden":           "",
		"-rf":               "",
		"a\x00b":            "",
	} {
		got, err := FileName(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("FileName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// FuzzFileName: whatever name passes the CA's rules, the file named for it
// is one path element that stays in the directory it is joined to.
func FuzzFileName(f *testing.F) {
	for _, s := range []string{"api.internal", "*.a.b", "::1", "fe80::1%eth0", "..", ".", "../../evil.test", "a/b", `a\b`,
		"alice@example.com", "-rf", ".hidden", "a..b", "10.0.0.5", "xn--bcher-kva.example", "\x00", "a\u2215b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		ok := CheckHost(name, true) == nil || CheckClientName(name) == nil
		fn, err := FileName(name)
		if ok != (err == nil) {
			t.Fatalf("FileName(%q) = %q, %v; name rules say ok=%v", name, fn, err, ok)
		}
		if err != nil {
			return
		}
		dir := filepath.Join("out", "sub")
		for _, ext := range []string{".pem", ".key", ".chain.pem", ".p12", ".p12.pass"} {
			p := filepath.Join(dir, fn+ext)
			if filepath.Dir(p) != dir || filepath.Base(p) != fn+ext || strings.HasPrefix(fn, ".") || strings.HasPrefix(fn, "-") {
				t.Fatalf("FileName(%q) = %q: %s leaves %s", name, fn, p, dir)
			}
		}
	})
}
