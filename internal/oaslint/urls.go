package oaslint

import (
	"net/netip"
	"strings"

	"github.com/tlsgate/tlsgate/internal/loopback"
)

// urlInfo is what the rules need to know of a URL. It is parsed by hand
// because net/url rejects templates ("https://{host}/v1") and reads
// "localhost:8080" as a URL of scheme "localhost".
type urlInfo struct {
	scheme   string // lower case; "" when relative
	host     string // lower case, without port and brackets
	userinfo string // before '@' in the authority, as written
	hasUser  bool
	relative bool // no scheme: resolved against the document's URL
	noScheme bool // relative, but looks like a host: "api.example.com/v1", "localhost:8080"
}

func parseURL(raw string) urlInfo {
	s := strings.TrimSpace(raw)
	var u urlInfo
	rest := s
	if !strings.Contains(s, "//") {
		if first, _, _ := strings.Cut(s, "/"); strings.Contains(first, "@") {
			// "user:password@api.example.com/v1": credentials and a host,
			// without a scheme.
			at := strings.LastIndexByte(first, '@')
			u.relative, u.noScheme, u.hasUser = true, true, true
			u.userinfo = first[:at]
			u.host = parseURL("//" + first[at+1:]).host
			return u
		}
	}
	if i := strings.IndexByte(s, ':'); i >= 2 && isScheme(s[:i]) {
		after := s[i+1:]
		if hostPort(after) {
			// "localhost:8080/v1" or "api.example.com:443": a host and port
			// without a scheme.
			u.relative, u.noScheme = true, true
			u.host = strings.ToLower(s[:i])
			return u
		}
		u.scheme = strings.ToLower(s[:i])
		rest = after
	} else {
		u.relative = true
		if !strings.HasPrefix(s, "//") {
			first, _, _ := strings.Cut(s, "/")
			first, _, _ = strings.Cut(first, "?")
			if first != "" && first != "." && first != ".." && !strings.HasPrefix(first, "{") &&
				(strings.Contains(first, ".") && !strings.HasPrefix(first, ".") || strings.EqualFold(first, "localhost")) {
				u.noScheme = true
				u.host = strings.ToLower(first)
			}
			return u
		}
	}
	if !strings.HasPrefix(rest, "//") {
		return u // mailto:, urn:, or a path
	}
	auth := rest[2:]
	if i := strings.IndexAny(auth, "/?#"); i >= 0 {
		auth = auth[:i]
	}
	if i := strings.LastIndexByte(auth, '@'); i >= 0 {
		u.userinfo, u.hasUser = auth[:i], true
		auth = auth[i+1:]
	}
	if strings.HasPrefix(auth, "[") {
		if i := strings.IndexByte(auth, ']'); i > 0 {
			auth = auth[1:i]
		}
	} else if i := strings.LastIndexByte(auth, ':'); i >= 0 {
		auth = auth[:i]
	}
	u.host = strings.ToLower(auth)
	return u
}

func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

// hostPort says whether s, what follows "x:", is a port: digits, then
// the end or a path.
func hostPort(s string) bool {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i > 0 && (i == len(s) || s[i] == '/' || s[i] == '?' || s[i] == '#')
}

// secure says whether the scheme is TLS: https, or wss for WebSockets.
func (u urlInfo) secure() bool { return u.scheme == "https" || u.scheme == "wss" }

// loopback says whether the host never leaves the machine: localhost,
// *.localhost (RFC 6761), 127.0.0.0/8, ::1, and the unspecified address
// 0.0.0.0 that development servers print.
func (u urlInfo) loopback() bool {
	h := strings.TrimSuffix(u.host, ".")
	if loopback.Name(h) || loopback.Host(h) {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsUnspecified()
}

// redact hides the password (or the token, when there is no password) in
// a URL's userinfo, so that findings do not spread the secret further.
func redact(raw string) string {
	i := strings.Index(raw, "//")
	if i < 0 {
		// No authority: "user:password@host/path" without a scheme.
		first, _, _ := strings.Cut(raw, "/")
		if strings.Contains(first, "@") {
			return redact("//" + raw)[2:]
		}
		return raw
	}
	auth := raw[i+2:]
	end := len(auth)
	if j := strings.IndexAny(auth, "/?#"); j >= 0 {
		end = j
	}
	at := strings.LastIndexByte(auth[:end], '@')
	if at < 0 {
		return raw
	}
	user, _, hasPass := strings.Cut(auth[:at], ":")
	hidden := "***"
	if hasPass {
		hidden = user + ":***"
	}
	return raw[:i+2] + hidden + auth[at:]
}

// schemeName words a scheme for messages.
func schemeName(u urlInfo) string {
	switch u.scheme {
	case "http":
		return "plain HTTP (http://)"
	case "ws":
		return "an unencrypted WebSocket (ws://)"
	}
	return u.scheme + "://, not https://"
}
