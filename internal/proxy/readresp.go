package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"

	"golang.org/x/net/http/httpguts"
)

// readResponse reads one upstream response head from br, exactly as
// http.ReadResponse(br, req) does: same Response, same bytes consumed,
// same body bytes and errors.
//
// The usual API answer (HTTP/1.1, a final status, a Content-Length, a few
// plain header fields, the whole head in one read) is parsed here, with
// one string for the head and one map, where http.ReadResponse spends
// about nine allocations and twice the time (textproto's line reader,
// canonicalization and header-map building were 7% of the gateway's CPU
// per keep-alive request, issue 17).
//
// Anything else is left, unread, to http.ReadResponse: fastResponse
// accepts only a strict subset of what net/http accepts and reports
// "not mine" before it consumes a byte. So the framing of every answer it
// takes (where its body ends, and so where the next answer on a pooled
// connection begins) is net/http's, which TestReadResponseMatchesNetHTTP
// and FuzzReadResponse check byte for byte against http.ReadResponse.
func readResponse(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	resp, ok, err := fastResponse(br, req)
	if ok || err != nil {
		return resp, err
	}
	return http.ReadResponse(br, req)
}

// maxFastFields bounds the header fields fastResponse handles; a head with
// more goes to http.ReadResponse.
const maxFastFields = 32

// fastField is one header field line of the head: offsets into it.
type fastField struct {
	k0, k1 int // name
	v0, v1 int // value, trimmed
	canon  bool
}

// fastResponse parses the head if it is in the subset described at
// readResponse. ok is false, with nothing consumed, when the head is not;
// err is set only when the first read fails, with the error
// http.ReadResponse returns for it.
func fastResponse(br *bufio.Reader, req *http.Request) (resp *http.Response, ok bool, err error) {
	if req != nil && req.Method == http.MethodHead {
		// ContentLength is the header's, and no body follows.
		return nil, false, nil
	}
	if br.Buffered() == 0 {
		if _, err := br.Peek(1); err != nil {
			// http.ReadResponse's first read fails the same way, with
			// nothing read: its status line read returns the error.
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, false, err
		}
	}
	buf, _ := br.Peek(br.Buffered())
	end := bytes.Index(buf, crlfcrlf)
	if end < 0 {
		return nil, false, nil
	}
	head := buf[:end+2] // every line with its CRLF

	// Status line: "HTTP/1.1 DDD" and an optional " reason" of printable
	// ASCII.
	eol := bytes.IndexByte(head, '\r')
	if eol < 12 || head[eol+1] != '\n' || string(head[:9]) != "HTTP/1.1 " {
		return nil, false, nil
	}
	d0, d1, d2 := head[9]-'0', head[10]-'0', head[11]-'0'
	if d0 > 9 || d1 > 9 || d2 > 9 {
		return nil, false, nil
	}
	code := int(d0)*100 + int(d1)*10 + int(d2)
	if code < 200 || code > 599 {
		// 1xx (the caller's loop), and codes no upstream should send.
		return nil, false, nil
	}
	if eol > 12 {
		if head[12] != ' ' {
			return nil, false, nil
		}
		for _, c := range head[13:eol] {
			if c < 0x20 || c > 0x7e {
				return nil, false, nil
			}
		}
	}
	noBody := code == http.StatusNoContent || code == http.StatusNotModified

	// Header fields: token ":" value, value of HTAB and printable ASCII,
	// each line ending in CRLF, none folded.
	var fields [maxFastFields]fastField
	nf := 0
	clField := -1
	for i := eol + 2; i < len(head); {
		e := i + bytes.IndexByte(head[i:], '\r')
		if e < i || head[e+1] != '\n' {
			return nil, false, nil
		}
		if nf == maxFastFields {
			return nil, false, nil
		}
		f := &fields[nf]
		f.k0, f.canon = i, true
		upper := true
		j := i
		for ; j < e && head[j] != ':'; j++ {
			c := head[j]
			if !isTokenByte[c] {
				return nil, false, nil
			}
			if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
				f.canon = false
			}
			upper = c == '-'
		}
		if j == i || j == e {
			return nil, false, nil
		}
		f.k1 = j
		for _, c := range head[j+1 : e] {
			if c != '\t' && (c < 0x20 || c > 0x7e) {
				return nil, false, nil
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
		case "Transfer-Encoding", "Trailer", "Pragma":
			// Framing and header rules left to net/http.
			return nil, false, nil
		case "Content-Length":
			if clField >= 0 || noBody {
				// Duplicates are compared and merged by net/http, and a
				// 204 or 304 keeps the field whatever its value.
				return nil, false, nil
			}
			clField = nf
		}
		nf++
		i = e + 2
	}
	var length int64
	if !noBody {
		if clField < 0 {
			// A body that ends when the connection closes.
			return nil, false, nil
		}
		v := head[fields[clField].v0:fields[clField].v1]
		if len(v) == 0 || len(v) > 18 {
			return nil, false, nil
		}
		for _, c := range v {
			if c < '0' || c > '9' {
				return nil, false, nil
			}
			length = length*10 + int64(c-'0')
		}
	}

	// Accepted: build what http.ReadResponse builds.
	s := string(head)
	h := make(http.Header, nf)
	a := new(fastAlloc)
	strs := a.strs[:]
	if nf > len(a.strs) {
		strs = make([]string, nf)
	}
	for k := range nf {
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
	resp = &a.resp
	*resp = http.Response{
		Status:     s[9:eol],
		StatusCode: code,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Request:    req,
	}
	// net/http's shouldClose for HTTP/1.1: "close" among the Connection
	// tokens ends the connection, and the field is dropped.
	if conn, ok := h["Connection"]; ok && httpguts.HeaderValuesContainsToken(conn, "close") {
		resp.Close = true
		delete(h, "Connection")
	}
	if length == 0 {
		resp.Body = http.NoBody
	} else {
		resp.ContentLength = length
		a.body = lengthBody{br: br, n: length}
		resp.Body = &a.body
	}
	br.Discard(end + 4)
	return resp, true, nil
}

var crlfcrlf = []byte("\r\n\r\n")

// fastAlloc is what fastResponse allocates for a usual answer, in one
// piece: they live and die together (the body until it is read, the
// header values until the answer is written on).
type fastAlloc struct {
	resp http.Response
	body lengthBody
	strs [8]string // backs the header's value slices
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

// commonKeys interns the canonical names an API answer usually carries,
// so that a non-canonical spelling ("content-type") costs no allocation.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept-Ranges", "Access-Control-Allow-Credentials", "Access-Control-Allow-Headers",
		"Access-Control-Allow-Methods", "Access-Control-Allow-Origin", "Access-Control-Expose-Headers",
		"Access-Control-Max-Age", "Age", "Alt-Svc", "Cache-Control", "Connection", "Content-Disposition",
		"Content-Encoding", "Content-Language", "Content-Length", "Content-Location", "Content-Range",
		"Content-Security-Policy", "Content-Type", "Date", "Etag", "Expires", "Keep-Alive",
		"Last-Modified", "Link", "Location", "Referrer-Policy", "Retry-After", "Server", "Set-Cookie",
		"Strict-Transport-Security", "Vary", "Via", "Www-Authenticate", "X-Content-Type-Options",
		"X-Frame-Options", "X-Powered-By", "X-Ratelimit-Limit", "X-Ratelimit-Remaining",
		"X-Ratelimit-Reset", "X-Request-Id",
	} {
		m[k] = k
	}
	return m
}()

// isTokenByte is RFC 9110's tchar, the bytes of a field name, as textproto
// checks them.
var isTokenByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// lengthBody is a Content-Length body read from the connection's reader,
// with net/http's body semantics: io.EOF with the last byte, and
// io.ErrUnexpectedEOF when the connection ends first.
type lengthBody struct {
	br  *bufio.Reader
	n   int64
	eof bool
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.eof || b.n <= 0 {
		b.eof = true
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.br.Read(p)
	b.n -= int64(n)
	switch {
	case err == io.EOF:
		b.eof = true
		if b.n > 0 {
			err = io.ErrUnexpectedEOF
		}
	case err == nil && n > 0 && b.n == 0:
		b.eof = true
		err = io.EOF
	}
	return n, err
}

func (b *lengthBody) Close() error { return nil }
