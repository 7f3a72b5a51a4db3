// Package httphead parses the usual HTTP/1.1 heads, the ones API traffic
// is made of, into exactly what net/http's parsers build from them, for a
// fraction of the time and allocations; every other head is left to
// net/http, unread.
//
// It is a leaf: the upstream transport (internal/proxy) reads responses
// with ReadResponse, and the HTTP/1.1 server (internal/h1) parses requests
// with ParseRequest.
//
// The rule that keeps it safe: each parser accepts a strict subset of what
// net/http accepts (HTTP/1.1, lines ending in CRLF, field names of token
// bytes, values of HTAB and printable ASCII, no folding, at most
// maxFields fields, no field that changes framing or that net/http
// rewrites: Transfer-Encoding, Trailer, Pragma, and Content-Length where
// the subset has no body), and for that subset builds the same value
// net/http builds, field for field. For anything outside it, it says so
// before consuming a byte, and the caller runs net/http's parser on the
// same bytes. So where a message ends (and the next begins, on a kept-alive
// connection) is always net/http's answer. TestReadResponseMatchesNetHTTP,
// TestParseRequestMatchesNetHTTP and their fuzzers compare the two on a
// corpus of usual and malformed heads and on generated ones, with the
// bytes split into reads of several sizes.
package httphead

import (
	"bytes"
	"net/http"

	"golang.org/x/net/http/httpguts"
)

// maxFields bounds the header fields a head may have to be parsed here.
const maxFields = 32

// field is one header field line of a head: offsets into it.
type field struct {
	k0, k1 int // name
	v0, v1 int // value, trimmed of spaces and tabs
	canon  bool
	kind   kind
}

// kind marks the fields whose names the parsers act on.
type kind uint8

const (
	kindOther kind = iota
	kindContentLength
	kindHost
	kindConnection
	kindRefused // Transfer-Encoding, Trailer, Pragma: left to net/http
)

// scanFields parses the field lines of head from start to its end (head
// ends with the last line's CRLF, the blank line excluded) into fields.
// ok is false for any line outside the subset.
func scanFields(head []byte, start int, fields *[maxFields]field) (n int, ok bool) {
	for i := start; i < len(head); {
		e := i + bytes.IndexByte(head[i:], '\r')
		if e < i || e+1 >= len(head) || head[e+1] != '\n' || n == maxFields {
			return 0, false
		}
		f := &fields[n]
		f.k0, f.canon = i, true
		upper := true
		j := i
		for ; j < e && head[j] != ':'; j++ {
			c := head[j]
			if !httpguts.IsTokenRune(rune(c)) {
				return 0, false
			}
			if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
				f.canon = false
			}
			upper = c == '-'
		}
		if j == i || j == e {
			return 0, false
		}
		f.k1 = j
		for _, c := range head[j+1 : e] {
			if c != '\t' && (c < 0x20 || c > 0x7e) {
				return 0, false
			}
		}
		v0, v1 := j+1, e
		for v0 < v1 && (head[v0] == ' ' || head[v0] == '\t') {
			v0++
		}
		for v1 > v0 && (head[v1-1] == ' ' || head[v1-1] == '\t') {
			v1--
		}
		f.v0, f.v1 = v0, v1
		name := head[f.k0:f.k1]
		var kb [64]byte
		if !f.canon {
			name = canonicalKey(&kb, name)
		}
		switch string(name) {
		case "Content-Length":
			f.kind = kindContentLength
		case "Host":
			f.kind = kindHost
		case "Connection":
			f.kind = kindConnection
		case "Transfer-Encoding", "Trailer", "Pragma":
			f.kind = kindRefused
		default:
			f.kind = kindOther
		}
		n++
		i = e + 2
	}
	return n, true
}

// buildHeader builds the header textproto builds from fields: canonical
// names, values in order, each name's values in one slice. s is head as a
// string: names and values are cut from it, so the whole head costs one
// allocation. strs backs the value slices (len(strs) >= len(fields)).
func buildHeader(s string, head []byte, fields []field, strs []string) http.Header {
	h := make(http.Header, len(fields))
	for k := range fields {
		f := &fields[k]
		key := s[f.k0:f.k1]
		if !f.canon {
			var kb [64]byte
			ck := canonicalKey(&kb, head[f.k0:f.k1])
			if c, ok := commonKeys[string(ck)]; ok {
				key = c
			} else {
				key = string(ck)
			}
		}
		v := s[f.v0:f.v1]
		if vv := h[key]; vv != nil {
			h[key] = append(vv, v)
		} else {
			strs[0] = v
			h[key], strs = strs[:1:1], strs[1:]
		}
	}
	return h
}

// parseLength reads a Content-Length value of 1 to 18 digits (so no
// overflow), as strconv.ParseUint(v, 10, 63) reads it; ok is false for
// anything else, which net/http judges.
func parseLength(v []byte) (n int64, ok bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// canonicalKey returns textproto's canonical form of the token name k
// (upper case first and after '-', lower case elsewhere), written in
// scratch when it fits.
func canonicalKey(scratch *[64]byte, k []byte) []byte {
	b := scratch[:0]
	if len(k) > len(scratch) {
		b = make([]byte, len(k))
	}
	b = b[:len(k)]
	upper := true
	for i, c := range k {
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
		upper = c == '-'
	}
	return b
}

// commonKeys interns the canonical names API traffic usually carries, so
// that a non-canonical spelling ("content-type") costs no allocation.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept", "Accept-Encoding", "Accept-Language", "Accept-Ranges",
		"Access-Control-Allow-Credentials", "Access-Control-Allow-Headers",
		"Access-Control-Allow-Methods", "Access-Control-Allow-Origin", "Access-Control-Expose-Headers",
		"Access-Control-Max-Age", "Access-Control-Request-Headers", "Access-Control-Request-Method",
		"Age", "Alt-Svc", "Authorization", "Cache-Control", "Connection", "Content-Disposition",
		"Content-Encoding", "Content-Language", "Content-Length", "Content-Location", "Content-Range",
		"Content-Security-Policy", "Content-Type", "Cookie", "Date", "Etag", "Expires", "Host",
		"If-Match", "If-Modified-Since", "If-None-Match", "Keep-Alive", "Last-Modified", "Link",
		"Location", "Origin", "Referer", "Referrer-Policy", "Retry-After", "Server", "Set-Cookie",
		"Strict-Transport-Security", "Traceparent", "User-Agent", "Vary", "Via", "Www-Authenticate",
		"X-Api-Key", "X-Content-Type-Options", "X-Forwarded-For", "X-Forwarded-Proto", "X-Frame-Options",
		"X-Powered-By", "X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset",
		"X-Request-Id", "X-Requested-With",
	} {
		m[k] = k
	}
	return m
}()
