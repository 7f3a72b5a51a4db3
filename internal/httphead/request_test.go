package httphead

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// ParseRequest is held to http.ReadRequest: whatever it accepts,
// http.ReadRequest accepts too, reading exactly the same bytes, into an
// equal Request.

const usualRequest = "GET /api/v1/items?page=2&q=a%20b HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n"

var parseReqCases = []struct {
	name, in string
	fast     bool
}{
	{"usual", usualRequest, true},
	{"wrk", "GET / HTTP/1.1\r\nHost: 127.0.0.1:8443\r\n\r\n", true},
	{"HEAD", "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"DELETE", "DELETE /items/1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer abc.def\r\n\r\n", true},
	{"OPTIONS", "OPTIONS /x HTTP/1.1\r\nHost: a\r\nOrigin: https://b\r\nAccess-Control-Request-Method: PUT\r\n\r\n", true},
	{"no host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", true},
	{"empty host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", true},
	{"host with spaces", "GET / HTTP/1.1\r\nHost:  a.example  \r\n\r\n", true},
	{"lower-case names", "GET / HTTP/1.1\r\nhost: a\r\nuser-agent: x\r\nx-custom-id: 7\r\n\r\n", true},
	{"upper-case names", "GET / HTTP/1.1\r\nHOST: a\r\nACCEPT: */*\r\n\r\n", true},
	{"duplicates", "GET / HTTP/1.1\r\nHost: a\r\nAccept: a\r\naccept: b\r\nCookie: x=1\r\nCookie: y=2\r\n\r\n", true},
	{"connection close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", true},
	{"connection close among tokens", "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n", true},
	{"connection keep-alive", "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", true},
	{"two connection fields", "GET / HTTP/1.1\r\nHost: a\r\nConnection: te\r\nConnection: close\r\n\r\n", true},
	{"upgrade", "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", true},
	{"expect", "GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", true},
	{"escaped path", "GET /a%2Fb/%7Euser/caf%C3%A9 HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"double slash", "GET //evil.example/x HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"dot segments", "GET /a/../b/./c HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"query only", "GET /?x HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"fragment", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"star path", "GET /* HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"odd bytes in target", "GET /a;b,c=d!$&'()*+@:~ HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"values trimmed", "GET / HTTP/1.1\r\nHost: a\r\nX-A: \t v \t\r\nX-B:\r\n\r\n", true},
	{"32 fields", "GET / HTTP/1.1\r\nHost: a\r\n" + manyFields(31) + "\r\n", true},

	// Left to http.ReadRequest.
	{"33 fields", "GET / HTTP/1.1\r\nHost: a\r\n" + manyFields(32) + "\r\n", false},
	{"POST", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n", false},
	{"PUT", "PUT / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"lower-case method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"PRI", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false},
	{"absolute form", "GET http://b.example/x HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\n\r\n", false},
	{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", false},
	{"lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", false},
	{"two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"tab in target", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"8-bit target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", false},
	{"bad escape", "GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", false},
	{"two hosts, cases", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", false},
	{"content-length", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", false},
	{"transfer-encoding", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", false},
	{"trailer", "GET / HTTP/1.1\r\nHost: a\r\nTrailer: X\r\n\r\n", false},
	{"pragma", "GET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\n\r\n", false},
	{"folded", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\n\r\n", false},
	{"first field folded", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", false},
	{"bare LF", "GET / HTTP/1.1\nHost: a\n\n", false},
	{"bare LF then CRLF end", "GET / HTTP/1.1\nHost: a\r\n\r\n", false},
	{"bare CR", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", false},
	{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", false},
	{"no colon", "GET / HTTP/1.1\r\nHost: a\r\nJunk\r\n\r\n", false},
	{"NUL in value", "GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n", false},
	{"8-bit value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: caf\xc3\xa9\r\n\r\n", false},
	{"no blank line", "GET / HTTP/1.1\r\nHost: a\r\n", false},
	{"blank line early", "GET / HTTP/1.1\r\n\r\nHost: a\r\n\r\n", false},
	{"empty", "", false},
}

func manyFields(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "X-Field-%d: value %d\r\n", i, i)
	}
	return b.String()
}

// compareParse checks ParseRequest against http.ReadRequest on in and
// reports whether ParseRequest took it.
func compareParse(t *testing.T, in []byte) bool {
	t.Helper()
	got, ok := ParseRequest(bytes.Clone(in))
	if !ok {
		return false
	}
	r := bytes.NewReader(in)
	br := bufio.NewReader(r)
	want, err := http.ReadRequest(br)
	if err != nil {
		t.Errorf("%q: ParseRequest took it, http.ReadRequest refused it: %v", in, err)
		return true
	}
	if left := br.Buffered() + r.Len(); left != 0 {
		t.Errorf("%q: http.ReadRequest left %d bytes: it reads a shorter head", in, left)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%q:\nParseRequest:     %s\nhttp.ReadRequest: %s", in, describeReq(got), describeReq(want))
	}
	return true
}

func describeReq(r *http.Request) string {
	return fmt.Sprintf("method=%q url=%#v proto=%q %d.%d header=%v body=%v length=%d te=%v close=%v host=%q trailer=%v uri=%q",
		r.Method, r.URL, r.Proto, r.ProtoMajor, r.ProtoMinor, r.Header, r.Body, r.ContentLength, r.TransferEncoding, r.Close, r.Host, r.Trailer, r.RequestURI)
}

func TestParseRequestMatchesNetHTTP(t *testing.T) {
	for _, c := range parseReqCases {
		t.Run(c.name, func(t *testing.T) {
			if fast := compareParse(t, []byte(c.in)); fast != c.fast {
				t.Errorf("ParseRequest took it: %v, want %v", fast, c.fast)
			}
		})
	}
}

// TestParseRequestOwnsItsStrings: the Request keeps nothing of the
// caller's buffer, which the server reuses for the next request, maybe
// another client's.
func TestParseRequestOwnsItsStrings(t *testing.T) {
	buf := []byte(usualRequest)
	req, ok := ParseRequest(buf)
	if !ok {
		t.Fatal("usual request refused")
	}
	before := describeReq(req)
	for i := range buf {
		buf[i] = 'X'
	}
	if after := describeReq(req); after != before {
		t.Errorf("the Request changed with the buffer:\nbefore %s\nafter  %s", before, after)
	}
}

func TestParseRequestAllocs(t *testing.T) {
	in := []byte(usualRequest)
	fast := testing.AllocsPerRun(100, func() {
		if _, ok := ParseRequest(in); !ok {
			t.Fatal("refused")
		}
	})
	r := bytes.NewReader(in)
	br := bufio.NewReader(r)
	std := testing.AllocsPerRun(100, func() {
		r.Reset(in)
		br.Reset(r)
		if _, err := http.ReadRequest(br); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("allocations per usual request: ParseRequest %.0f, http.ReadRequest %.0f", fast, std)
	if fast > 5 {
		t.Errorf("ParseRequest: %.0f allocations per usual request, want at most 5 (http.ReadRequest: %.0f)", fast, std)
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, c := range parseReqCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		compareParse(t, in)
	})
}

func BenchmarkParseRequest(b *testing.B) {
	in := []byte(usualRequest)
	b.Run("httphead", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ParseRequest(in)
		}
	})
	b.Run("net-http", func(b *testing.B) {
		r := bytes.NewReader(in)
		br := bufio.NewReader(r)
		b.ReportAllocs()
		for b.Loop() {
			r.Reset(in)
			br.Reset(r)
			if _, err := http.ReadRequest(br); err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, br)
		}
	})
}
