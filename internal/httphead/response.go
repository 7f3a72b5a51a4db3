package httphead

import (
	"bufio"
	"bytes"
	"io"
	"net/http"

	"golang.org/x/net/http/httpguts"
)

// ReadResponse reads one response from br exactly as http.ReadResponse(br,
// req) does: the same Response, the same bytes consumed, the same body
// bytes and errors read after read, and the same Close (which reads the
// rest of the body unless the connection is closing).
//
// The usual API answer (HTTP/1.1, a final status, a Content-Length or no
// body, at most maxFields plain fields, the whole head in br after one
// read) is parsed here with four allocations, where http.ReadResponse
// spends ten and about 1.6 times the time (BenchmarkReadResponse); it
// was 7% of the gateway's CPU per proxied keep-alive request (issue 17).
// Anything else goes to http.ReadResponse, unread.
func ReadResponse(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	resp, ok, err := fastResponse(br, req)
	if ok || err != nil {
		return resp, err
	}
	return http.ReadResponse(br, req)
}

// fastResponse parses the head if it is in the subset. ok is false, with
// nothing consumed, when it is not; err is set only when the first read
// fails, with the error http.ReadResponse returns for it.
func fastResponse(br *bufio.Reader, req *http.Request) (resp *http.Response, ok bool, err error) {
	if req != nil && req.Method == http.MethodHead {
		// ContentLength is the field's, and no body follows.
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

	var fields [maxFields]field
	nf, ok := scanFields(head, eol+2, &fields)
	if !ok {
		return nil, false, nil
	}
	clField := -1
	for k := range nf {
		switch fields[k].kind {
		case kindRefused:
			return nil, false, nil
		case kindContentLength:
			if clField >= 0 || noBody {
				// Duplicates are compared and merged by net/http, and a
				// 204 or 304 keeps the field whatever its value.
				return nil, false, nil
			}
			clField = k
		}
	}
	var length int64
	if !noBody {
		if clField < 0 {
			// A body that ends when the connection closes.
			return nil, false, nil
		}
		if length, ok = parseLength(head[fields[clField].v0:fields[clField].v1]); !ok {
			return nil, false, nil
		}
	}

	// Accepted: build what http.ReadResponse builds.
	a := new(responseAlloc)
	strs := a.strs[:]
	if nf > len(a.strs) {
		strs = make([]string, nf)
	}
	s := string(head)
	h := buildHeader(s, head, fields[:nf], strs)
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
		a.body = lengthBody{br: br, n: length, closing: resp.Close}
		resp.Body = &a.body
	}
	br.Discard(end + 4)
	return resp, true, nil
}

var crlfcrlf = []byte("\r\n\r\n")

// responseAlloc is what fastResponse allocates for a usual answer, in one
// piece: they live and die together (the body until it is read, the
// header values until the answer is passed on).
type responseAlloc struct {
	resp http.Response
	body lengthBody
	strs [8]string // backs the header's value slices
}

// lengthBody is a Content-Length body read from the connection's reader,
// with net/http's body semantics: io.EOF with the last byte,
// io.ErrUnexpectedEOF when the connection ends first, and Close reads the
// rest (so that the next answer on the connection starts where net/http's
// would) unless the connection closes after this answer.
type lengthBody struct {
	br      *bufio.Reader
	n       int64
	eof     bool
	closing bool // Connection: close
	closed  bool
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
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

// Close is net/http's body Close for a Content-Length answer.
func (b *lengthBody) Close() error {
	if b.closed {
		return nil
	}
	var err error
	if !b.eof && !b.closing {
		_, err = io.Copy(io.Discard, b)
	}
	b.closed = true
	return err
}
