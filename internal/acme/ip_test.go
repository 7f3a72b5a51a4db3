package acme

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestChallengeIP(t *testing.T) {
	t.Parallel()
	challenge := []string{ALPNProto}
	for _, tc := range []struct {
		sni    string
		protos []string
		want   string // "" for none
	}{
		{"1.0.0.127.in-addr.arpa", challenge, "127.0.0.1"},
		{"1.0.0.127.in-addr.arpa.", challenge, "127.0.0.1"},
		{"4.3.2.1.IN-ADDR.ARPA", challenge, "1.2.3.4"},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa", challenge, "::1"},
		{"b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa", challenge, "4321:0:1:2:3:4:567:89ab"},
		// Not a validation handshake: a client may send any SNI.
		{"1.0.0.127.in-addr.arpa", []string{"h2", "http/1.1"}, ""},
		{"1.0.0.127.in-addr.arpa", []string{ALPNProto, "h2"}, ""},
		// Not the canonical reverse name of an address.
		{"01.0.0.127.in-addr.arpa", challenge, ""},
		{"256.0.0.127.in-addr.arpa", challenge, ""},
		{"0.0.127.in-addr.arpa", challenge, ""},
		{"+1.0.0.127.in-addr.arpa", challenge, ""},
		{"1.0.0.127.in-addr.arpa.example.com", challenge, ""},
		{"in-addr.arpa", challenge, ""},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa", challenge, ""},
		{"10.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa", challenge, ""},
		{"4.3.2.1.0.0.0.0.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa", challenge, ""}, // ::ffff:1.2.3.4 is 4.3.2.1.in-addr.arpa
		{"example.com", challenge, ""},
		{"", challenge, ""},
	} {
		ip, ok := ChallengeIP(&tls.ClientHelloInfo{ServerName: tc.sni, SupportedProtos: tc.protos})
		got := ""
		if ok {
			got = ip.String()
		}
		if got != tc.want {
			t.Errorf("ChallengeIP(%q, %v) = %q, want %q", tc.sni, tc.protos, got, tc.want)
		}
	}
}

// FuzzReverseName holds parseReverseName to the reverse names certmagic
// keys its tls-alpn-01 certificates by (miekg/dns ReverseAddr): a name it
// accepts is exactly the reverse name of the address it returns, so the
// gateway and certmagic agree on which handshake is which address's.
func FuzzReverseName(f *testing.F) {
	for _, s := range []string{
		"1.0.0.127.in-addr.arpa", "1.0.0.127.in-addr.arpa.", "255.255.255.255.in-addr.arpa",
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
		"B.A.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.IP6.ARPA",
		"01.0.0.127.in-addr.arpa", "example.com", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		ip, ok := parseReverseName(name)
		if !ok {
			return
		}
		rev, err := dns.ReverseAddr(ip.String())
		if err != nil {
			t.Fatalf("parseReverseName(%q) = %v, which miekg/dns cannot reverse: %v", name, ip, err)
		}
		if want := strings.ToLower(strings.TrimSuffix(name, ".")) + "."; rev != want {
			t.Fatalf("parseReverseName(%q) = %v, whose reverse name is %q", name, ip, rev)
		}
		if back, ok := parseReverseName(rev); !ok || back != ip {
			t.Fatalf("parseReverseName(%q) = %v, %v; want %v", rev, back, ok, ip)
		}
	})
}
