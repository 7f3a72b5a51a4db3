package acme

import (
	"crypto/tls"
	"net/netip"
	"strconv"
	"strings"
)

// Certificates for IP addresses (RFC 8738). certmagic and acmez order
// them as "ip" identifiers; http-01 is validated at http://ADDRESS/ and
// needs nothing more. A tls-alpn-01 validation handshake cannot carry an
// address as SNI, so it names the address's reverse-DNS name instead
// (RFC 8738 section 6): 1.0.0.127.in-addr.arpa for 127.0.0.1. certmagic
// keys its challenge certificate by that name; the gateway must still
// route the handshake to the site of the address, which ChallengeIP
// tells it.

// ChallengeIP returns the IP address a tls-alpn-01 validation handshake
// validates, when it validates one: the handshake offers only acme-tls/1
// and its SNI is a reverse-DNS name (in-addr.arpa or ip6.arpa) in
// canonical form. Any other handshake gives false.
func ChallengeIP(hello *tls.ClientHelloInfo) (netip.Addr, bool) {
	if !isChallenge(hello) {
		return netip.Addr{}, false
	}
	return parseReverseName(hello.ServerName)
}

// parseReverseName parses the reverse-DNS name of an address, as RFC 8738
// section 6 (through RFC 1034 3.5 and RFC 3596 2.5) spells it: the four
// decimal octets or 32 hex nibbles in reverse order. Only the canonical
// spelling is accepted (no leading zeros, lower or upper case hex), so an
// address has one name.
func parseReverseName(name string) (netip.Addr, bool) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa"); ok {
		labels := strings.Split(rest, ".")
		if len(labels) != 4 {
			return netip.Addr{}, false
		}
		var b [4]byte
		for i, l := range labels {
			n, err := strconv.ParseUint(l, 10, 8)
			if err != nil || len(l) > 1 && l[0] == '0' {
				return netip.Addr{}, false
			}
			b[3-i] = byte(n)
		}
		return netip.AddrFrom4(b), true
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		const nibbles = 32
		if len(rest) != 2*nibbles-1 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i := range nibbles {
			if i < nibbles-1 && rest[2*i+1] != '.' {
				return netip.Addr{}, false
			}
			v, ok := hexNibble(rest[2*i])
			if !ok {
				return netip.Addr{}, false
			}
			pos := nibbles - 1 - i // the first label is the last nibble
			if pos%2 == 0 {
				v <<= 4
			}
			b[pos/2] |= v
		}
		ip := netip.AddrFrom16(b)
		if ip.Is4In6() {
			return netip.Addr{}, false // its name is under in-addr.arpa
		}
		return ip, true
	}
	return netip.Addr{}, false
}

func hexNibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
