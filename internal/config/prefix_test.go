package config

import (
	"net/netip"
	"testing"
)

func TestParsePrefixUnmapsIPv4InIPv6(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"::ffff:10.0.0.0/104":  "10.0.0.0/8",
		"::ffff:192.0.2.7/128": "192.0.2.7/32",
		"::ffff:192.0.2.7":     "192.0.2.7/32",
		"10.1.2.3/8":           "10.0.0.0/8",
		"2001:db8::/32":        "2001:db8::/32",
	}
	for in, want := range cases {
		p, err := ParsePrefix(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	p, _ := ParsePrefix("::ffff:10.0.0.0/104")
	if !p.Contains(netip.MustParseAddr("10.9.9.9")) {
		t.Errorf("%s does not contain the peer 10.9.9.9", p)
	}
	if _, err := ParsePrefix("::ffff:0.0.0.0/90"); err == nil {
		t.Error("a mapped range shorter than /96 was accepted")
	}
}
