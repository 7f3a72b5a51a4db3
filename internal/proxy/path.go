package proxy

import (
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// The request line is checked before a route is chosen on it: the method
// (checkMethod), the path (normalised as below) and the query (safeQuery);
// checkRequestLine runs the first two.
//
// Request paths are normalised before a route is chosen, and the
// normalised path is what the upstream gets. Otherwise a path such as
// /public/../internal/x matches the route /public/ (and its client-auth
// policy) while an upstream that resolves dot segments, as nginx and most
// frameworks do, serves /internal/x: a per-route mTLS bypass (the class of
// Envoy's CVE-2019-9901). The invariant: the route whose policy admitted a
// request is the route the upstream resolves it to.
//
// Normalisation follows RFC 3986, 6.2.2: percent-encoded unreserved
// characters are decoded (%2e is "."), dot segments are removed (5.2.4),
// and repeated slashes are merged (as nginx's merge_slashes does). Other
// escapes are kept as sent.
//
// An encoded slash (%2F) is kept as sent: routes are matched on the
// decoded path, where it is a separator, and upstreams that decode it
// (nginx) see the same segments, while those that do not see one segment
// with a slash in it (an ID such as "group%2Fproject"). Only where
// decoding it would make an empty or dot segment ("a%2F..%2Fb",
// "%2F%2F") is the path refused, since upstreams would then resolve it
// differently.
//
// Paths that upstreams disagree about are refused with 400 instead,
// because no normalisation the gateway picks matches every upstream:
//   - a backslash, literal or encoded (%5C): a separator to IIS and some
//     frameworks, data to the gateway's route match;
//   - a semicolon, literal or encoded (%3B): Java servers (Tomcat, Jetty, Spring) cut ";..." path
//     parameters off each segment, so "/public/..;/internal" is
//     "/public/../internal" to them;
//   - encoded control characters (%00-%1F, %7F): NUL ends a path in C;
//   - a double-encoded dot, slash or backslash (%252e, %252f, %255c),
//     which an upstream that decodes twice turns into one of the above.
//
// This is the rule set of Spring Security's StrictHttpFirewall, narrowed
// to what changes the meaning of a path.

// pathNeedsWork reports whether p might not be normal: only then does
// normalisePath do any work (the common path has none of these).
func pathNeedsWork(p string) bool {
	if p == "" || p[0] != '/' {
		return true
	}
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '%', '\\', ';':
			return true
		case '/':
			if i+1 < len(p) && (p[i+1] == '/' || p[i+1] == '.') {
				return true
			}
		}
	}
	return false
}

// normalisePath returns the normal form of the escaped request path p,
// or a reason to refuse it (then clean is "").
func normalisePath(p string) (clean, refuse string) {
	if !pathNeedsWork(p) {
		return p, ""
	}
	if p == "" {
		return "/", ""
	}
	if p[0] != '/' {
		return "", "the path does not begin with /"
	}
	var segs []string
	trailing := false
	var b strings.Builder
	for rest := p[1:]; ; {
		seg, more, found := strings.Cut(rest, "/")
		b.Reset()
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			switch c {
			case '\\':
				return "", "the path has a backslash"
			case ';':
				return "", "the path has a semicolon (path parameters are refused)"
			case '%':
				if i+2 >= len(seg) || !isHex(seg[i+1]) || !isHex(seg[i+2]) {
					return "", "the path has a malformed escape"
				}
				d := unhex(seg[i+1])<<4 | unhex(seg[i+2])
				switch {
				case d == '\\':
					return "", "the path has an encoded backslash (%5C)"
				case d == ';':
					return "", "the path has an encoded semicolon (%3B; path parameters are refused)"
				case d < 0x20 || d == 0x7f:
					return "", "the path has an encoded control character"
				}
				if unreserved(d) {
					b.WriteByte(d)
				} else {
					b.WriteString(seg[i : i+3])
				}
				i += 2
			default:
				b.WriteByte(c)
			}
		}
		s := b.String()
		if doubleEncoded(s) {
			return "", "the path has a double-encoded dot, slash or backslash"
		}
		if hiddenDotSegment(s) {
			return "", "the path has an encoded slash (%2F) next to a dot segment or another slash"
		}
		switch s {
		case "", ".":
			trailing = !found
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
			trailing = !found
		default:
			segs = append(segs, s)
			trailing = false
		}
		if !found {
			break
		}
		rest = more
	}
	if len(segs) == 0 {
		return "/", ""
	}
	out := "/" + strings.Join(segs, "/")
	if trailing {
		out += "/"
	}
	return out, ""
}

// doubleEncoded reports whether seg, a segment as it will be forwarded,
// has %25 followed by the escape of a dot, slash or backslash: what an
// upstream that decodes twice reads as one. It is checked on the output,
// because decoding unreserved escapes can form one ("%252%65").
func doubleEncoded(seg string) bool {
	for i := 0; i+4 < len(seg); i++ {
		if seg[i] == '%' && seg[i+1] == '2' && seg[i+2] == '5' && isHex(seg[i+3]) && isHex(seg[i+4]) {
			switch unhex(seg[i+3])<<4 | unhex(seg[i+4]) {
			case '.', '/', '\\':
				return true
			}
		}
	}
	return false
}

// hiddenDotSegment reports whether seg, a segment that holds encoded
// slashes, becomes an empty or dot segment where an upstream decodes %2F
// before it resolves the path (nginx does): "a%2F..", "%2F%2F".
func hiddenDotSegment(seg string) bool {
	if !strings.Contains(seg, "%2F") && !strings.Contains(seg, "%2f") {
		return false
	}
	for piece := range strings.SplitSeq(strings.ReplaceAll(seg, "%2f", "%2F"), "%2F") {
		if piece == "" || piece == "." || piece == ".." {
			return true
		}
	}
	return false
}

// unreserved reports whether c is an RFC 3986 unreserved character, whose
// percent-encoded and plain forms are equivalent.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// normaliseURL puts the normal form of u's path into u (Path and
// RawPath), or returns why the path is refused.
func normaliseURL(u *url.URL) (refuse string) {
	esc := u.EscapedPath()
	if !pathNeedsWork(esc) {
		return ""
	}
	clean, refuse := normalisePath(esc)
	if refuse != "" {
		return refuse
	}
	path, err := url.PathUnescape(clean)
	if err != nil {
		return "the path has a malformed escape"
	}
	u.Path, u.RawPath = path, clean
	if u.EscapedPath() != clean {
		// RawPath was not a valid encoding of Path (cannot happen for
		// clean's escapes, but never forward something else silently).
		return "the path cannot be normalised"
	}
	return ""
}

// checkRequestLine checks r's method and puts its path in normal form,
// before a route is chosen on it. It returns why r is refused and the
// status to answer, or "".
func checkRequestLine(r *http.Request) (refuse string, status int) {
	if why := checkMethod(r.Method); why != "" {
		return why, http.StatusBadRequest
	}
	if r.Method == http.MethodConnect || r.Method == http.MethodTrace {
		return "the method " + r.Method + " is not relayed", http.StatusMethodNotAllowed
	}
	if why := normaliseURL(r.URL); why != "" {
		return "the request path is refused: " + why, http.StatusBadRequest
	}
	return "", 0
}

// checkMethod returns why method is refused, or "". Only RFC 9110 tokens
// are methods: HTTP/2 lets any bytes through in :method, and a method
// with a space, written into an upstream's HTTP/1.1 request line ("GET
// /internal/x HTTP/1.1" + " /public/ HTTP/1.1"), would make the upstream
// read another target than the one the route was chosen for.
func checkMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return ""
	}
	if !httpguts.ValidHeaderFieldName(method) { // the token rule
		return "the method is not an HTTP token"
	}
	return ""
}

// safeQuery reports whether a raw query can go into a request line as it
// is: no spaces or control characters.
func safeQuery(q string) bool {
	for i := 0; i < len(q); i++ {
		if c := q[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}
