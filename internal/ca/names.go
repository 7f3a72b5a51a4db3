package ca

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// NameError reports a name the CA will not certify: which name, what it was
// meant to be ("DNS name", "IP address", "client name", "URI") and the rule
// it breaks. Names reach certificates, file names and identity headers, so
// each kind has a strict rule, checked before anything is signed or written.
type NameError struct {
	Name string
	Kind string
	Rule string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("%q is not a %s: %s", e.Name, e.Kind, e.Rule)
}

// maxClientName is the longest client name: the subject common name, whose
// upper bound X.520 sets at 64 characters.
const maxClientName = 64

// CheckDNSName reports whether name is a DNS name the CA certifies: RFC 1123
// labels (ASCII letters, digits and hyphens, no hyphen at either end, 1 to
// 63 characters each, 253 in all), lower case, internationalised names as
// their A-labels (xn--...). A wildcard, "*." followed by such a name, is
// accepted only when wildcard is true (server certificates).
func CheckDNSName(name string, wildcard bool) error {
	bad := func(rule string) error { return &NameError{name, "DNS name", rule} }
	rest := name
	if r, ok := strings.CutPrefix(name, "*."); ok {
		if !wildcard {
			return bad("a wildcard is only for server certificates")
		}
		rest = r
	}
	if rest == "" {
		return bad("it is empty")
	}
	// Characters first: "../../evil.test" is refused for its slashes, the
	// rule the user broke, not for its empty labels.
	for _, r := range rest {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.':
		case r >= 'A' && r <= 'Z':
			return bad("write it in lower case (" + strings.ToLower(name) + ")")
		case r == '*':
			return bad("a wildcard may only be the whole first label, as in *.example.com")
		case r > 0x7f:
			return bad("write an internationalised name as its A-label (xn--...), e.g. with 'idn2'")
		default:
			return bad("labels may hold letters, digits and hyphens")
		}
	}
	if len(rest) > 253 {
		return bad("longer than 253 characters")
	}
	for _, label := range strings.Split(rest, ".") {
		if label == "" {
			return bad("a label is empty (no leading, trailing or doubled dots)")
		}
		if len(label) > 63 {
			return bad("a label is longer than 63 characters")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return bad("a label may not begin or end with a hyphen")
		}
	}
	return nil
}

// CheckIP reports whether s is an IP address the CA certifies: IPv4 or IPv6
// without a zone (a zone such as %eth0 means nothing to another machine).
func CheckIP(s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return &NameError{s, "IP address", "not IPv4 or IPv6"}
	}
	if a.Zone() != "" {
		return &NameError{s, "IP address", "drop the zone (" + a.WithZone("").String() + ")"}
	}
	return nil
}

// isIP reports whether s is, or was meant as, an IP address rather than a
// DNS name (no DNS name holds a colon), so that errors talk about the kind
// the user meant.
func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil || strings.Contains(s, ":")
}

// CheckHost reports whether s is a DNS name or an IP address the CA
// certifies (see CheckDNSName and CheckIP).
func CheckHost(s string, wildcard bool) error {
	if isIP(s) {
		return CheckIP(s)
	}
	return CheckDNSName(s, wildcard)
}

// CheckClientName reports whether name may name a client certificate: its
// subject common name, the identity an upstream sees, and the base of the
// file names 'tlsgate ca issue' writes. It holds ASCII letters, digits and
// ".", "-", "_", "@" (so "payments", "billing.prod" and "alice@example.com"
// fit), begins with a letter or digit, has no ".." and does not end with a
// dot, and is at most 64 characters: nothing a shell, a path or an HTTP
// header would read differently.
func CheckClientName(name string) error {
	bad := func(rule string) error { return &NameError{name, "client name", rule} }
	switch {
	case name == "":
		return bad("it is empty")
	case len(name) > maxClientName:
		return bad(fmt.Sprintf("longer than %d characters", maxClientName))
	case !isAlnum(rune(name[0])):
		return bad("it must begin with a letter or digit")
	case strings.Contains(name, ".."), strings.HasSuffix(name, "."):
		return bad("no \"..\" and no trailing dot")
	}
	for _, r := range name {
		if !isAlnum(r) && !strings.ContainsRune(".-_@", r) {
			return bad("it may hold letters, digits, '.', '-', '_' and '@'")
		}
	}
	return nil
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// CheckURI reports whether u may be a URI SAN: absolute (a scheme and a
// host or opaque part, as spiffe://example.org/payments), with no user
// information (a password in a certificate is public) and no fragment.
func CheckURI(u *url.URL) error {
	bad := func(rule string) error { return &NameError{u.String(), "URI", rule} }
	switch {
	case u.Scheme == "":
		return bad("it needs a scheme, as in spiffe://example.org/payments")
	case u.Host == "" && u.Opaque == "":
		return bad("it needs a host after the scheme, as in spiffe://example.org/payments")
	case u.User != nil:
		return bad("it may not carry user info (user@ or user:password@)")
	case u.Fragment != "":
		return bad("it may not carry a #fragment")
	}
	return nil
}

// ParseURI parses s as a URI SAN and checks it with CheckURI.
func ParseURI(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, &NameError{s, "URI", "it does not parse as a URI"}
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, &NameError{s, "URI", "it may not hold spaces or control characters"}
	}
	return u, CheckURI(u)
}

// Check reports every name of l that the CA would not certify, joined: each
// of Names is a DNS name or IP address, except that a client certificate's
// first name is a client name (see CheckClientName), and every URI passes
// CheckURI. Issue calls it; callers may call it first to refuse input
// before doing anything else.
func (l Leaf) Check() error {
	if len(l.Names) == 0 {
		return errors.New("no names given")
	}
	var errs []error
	for i, n := range l.Names {
		var err error
		if i == 0 && l.Client {
			err = CheckClientName(n)
		} else {
			err = CheckHost(n, !l.Client)
		}
		errs = append(errs, err)
	}
	for _, u := range l.URIs {
		errs = append(errs, CheckURI(u))
	}
	return errors.Join(errs...)
}

// FileName is the base of the names 'tlsgate ca issue' gives the files of
// a certificate for name (NAME.pem, NAME.key, ...): name itself, with "*"
// of a wildcard and the ":" of IPv6 as "_". It refuses a name that passes
// none of CheckHost and CheckClientName, and checks that the result is one
// path element that is not "." or "..", does not begin with "." or "-"
// (hidden, or read as an option by the tools the files are passed to), so
// that a file named for it stays in the directory it is written to.
func FileName(name string) (string, error) {
	if CheckHost(name, true) != nil && CheckClientName(name) != nil {
		return "", &NameError{name, "file name", "it is neither a DNS name, an IP address nor a client name"}
	}
	f := strings.NewReplacer("*", "_", ":", "_").Replace(name)
	if f == "" || f == "." || f == ".." || strings.ContainsAny(f, `/\`+"\x00") || f[0] == '.' || f[0] == '-' {
		return "", &NameError{name, "file name", "it must be one path element"}
	}
	return f, nil
}
