package httphead

import (
	"bytes"
	"net/http"
	"net/url"

	"golang.org/x/net/http/httpguts"
)

// ParseRequest parses head, a request head up to and including the CRLF
// CRLF that ends it, into the Request http.ReadRequest builds from the
// same bytes, if head is in the subset: ok is false otherwise, and the
// caller runs http.ReadRequest.
//
// The subset is a GET, HEAD, DELETE or OPTIONS request line with an
// origin-form target ("/" and printable ASCII, no space), HTTP/1.1, at
// most one Host field, and no Content-Length, Transfer-Encoding, Trailer
// or Pragma: the requests without a body that API clients send. The
// target is parsed by url.ParseRequestURI itself, as net/http parses it.
// The Request shares nothing with head: the caller may reuse its buffer.
func ParseRequest(head []byte) (req *http.Request, ok bool) {
	if !bytes.HasSuffix(head, crlfcrlf) {
		return nil, false
	}
	head = head[:len(head)-2] // every line with its CRLF

	// Request line: method SP target SP "HTTP/1.1" CRLF.
	eol := bytes.IndexByte(head, '\r')
	if eol < 0 || head[eol+1] != '\n' {
		return nil, false
	}
	line := head[:eol]
	var method string
	switch {
	case bytes.HasPrefix(line, []byte("GET ")):
		method = http.MethodGet
	case bytes.HasPrefix(line, []byte("HEAD ")):
		method = http.MethodHead
	case bytes.HasPrefix(line, []byte("DELETE ")):
		method = http.MethodDelete
	case bytes.HasPrefix(line, []byte("OPTIONS ")):
		method = http.MethodOptions
	default:
		return nil, false
	}
	t0 := len(method) + 1
	const proto = " HTTP/1.1"
	if !bytes.HasSuffix(line, []byte(proto)) {
		return nil, false
	}
	t1 := len(line) - len(proto)
	if t1 <= t0 || line[t0] != '/' {
		return nil, false
	}
	for _, c := range line[t0:t1] {
		if c <= 0x20 || c > 0x7e {
			return nil, false
		}
	}

	var fields [maxFields]field
	nf, ok := scanFields(head, eol+2, &fields)
	if !ok {
		return nil, false
	}
	host := -1
	for k := range nf {
		switch fields[k].kind {
		case kindRefused, kindContentLength:
			return nil, false
		case kindHost:
			if host >= 0 {
				return nil, false // "too many Host headers"
			}
			host = k
		}
	}

	a := new(requestAlloc)
	strs := a.strs[:]
	if nf > len(a.strs) {
		strs = make([]string, nf)
	}
	s := string(head)
	target := s[t0:t1]
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, false
	}
	h := buildHeader(s, head, fields[:nf], strs)
	req = &a.req
	*req = http.Request{
		Method:     method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Body:       http.NoBody,
		RequestURI: target,
	}
	// Host: the target's authority (none in origin form), else the field,
	// which http.ReadRequest then takes out of the header.
	req.Host = u.Host
	if host >= 0 {
		if req.Host == "" {
			req.Host = s[fields[host].v0:fields[host].v1]
		}
		delete(h, "Host")
	}
	// shouldClose for an HTTP/1.1 request: "close" among the Connection
	// tokens; the field stays.
	if conn, ok := h["Connection"]; ok {
		req.Close = httpguts.HeaderValuesContainsToken(conn, "close")
	}
	return req, true
}

// requestAlloc is what ParseRequest allocates besides the head string, the
// header map and the URL, in one piece.
type requestAlloc struct {
	req  http.Request
	strs [8]string
}
