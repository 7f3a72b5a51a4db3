package httphead

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// ReadResponse is held to http.ReadResponse: for any bytes, read in any
// pieces, the same Response (or error), the same body bytes and errors
// read after read, and the same bytes left for the next answer.

const usualHead = "HTTP/1.1 200 OK\r\nContent-Length: 66\r\nContent-Type: application/json\r\nDate: Thu, 03 Dec 2026 14:06:24 GMT\r\n\r\n"

var usualBody = `{"ok":true,"service":"tlsgate-bench-backend","payload":"0123456"}` + "\n"

// readRespCases: the heads ReadResponse must parse itself (fast) and the
// ones it must leave to net/http, which accepts or refuses them.
var readRespCases = []struct {
	name, in string
	fast     bool // fastResponse takes it (GET, whole input in one read)
}{
	{"usual", usualHead + usualBody, true},
	{"usual then next answer", usualHead + usualBody + "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", true},
	{"no reason", "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", true},
	{"empty reason", "HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok", true},
	{"long reason", "HTTP/1.1 404 Not Found Here ~!\r\nContent-Length: 2\r\n\r\nno", true},
	{"lower-case names", "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\nx-my-header: 1\r\n\r\nok", true},
	{"upper-case names", "HTTP/1.1 200 OK\r\nCONTENT-LENGTH: 2\r\nX-REQUEST-ID: abc\r\nETAG: \"x\"\r\n\r\nok", true},
	{"odd tokens in names", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX_a.b!c#d$%&'*+^`|~: v\r\n-x: 1\r\nx-: 2\r\n\r\nok", true},
	{"duplicates", "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nContent-Length: 2\r\nset-cookie: b=2\r\nVary: A\r\nVary: B\r\nSET-COOKIE: c=3\r\n\r\nok", true},
	{"values trimmed", "HTTP/1.1 200 OK\r\nContent-Length:  \t2 \t\r\nX-A:\tv w \r\nX-B:\r\nX-C: \t \r\n\r\nok", true},
	{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", true},
	{"connection close among tokens", "HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\nContent-Length: 2\r\n\r\nok", true},
	{"connection close in second field", "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nconnection: close\r\nContent-Length: 2\r\n\r\nok", true},
	{"connection closed is not close", "HTTP/1.1 200 OK\r\nConnection: closed\r\nContent-Length: 2\r\n\r\nok", true},
	{"connection keep-alive", "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok", true},
	{"zero length", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true},
	{"leading zeros", "HTTP/1.1 200 OK\r\nContent-Length: 0002\r\n\r\nok", true},
	{"204", "HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n", true},
	{"204 with body bytes after", "HTTP/1.1 204 No Content\r\n\r\nstray", true},
	{"304", "HTTP/1.1 304 Not Modified\r\nEtag: \"a\"\r\n\r\n", true},
	{"500", "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 3\r\n\r\nerr", true},
	{"body cut short", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", true},
	{"body over 18 digits long", "HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999\r\n\r\nab", true},
	{"32 fields", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + manyFields(31) + "\r\nok", true},

	// Left to net/http.
	{"33 fields", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + manyFields(32) + "\r\nok", false},
	{"head over the buffer", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Big: " + strings.Repeat("a", 5000) + "\r\n\r\nok", false},
	{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
	{"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", false},
	{"HTTP/2.0", "HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
	{"lower-case proto", "http/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
	{"two spaces before the code", "HTTP/1.1  200 OK\r\nContent-Length: 2\r\n\r\nok", false},
	{"four digits", "HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok", false},
	{"two digits", "HTTP/1.1 20 OK\r\nContent-Length: 2\r\n\r\nok", false},
	{"code with sign", "HTTP/1.1 +20 OK\r\nContent-Length: 2\r\n\r\nok", false},
	{"000", "HTTP/1.1 000 X\r\nContent-Length: 2\r\n\r\nok", false},
	{"600", "HTTP/1.1 600 X\r\nContent-Length: 2\r\n\r\nok", false},
	{"100 then 200", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
	{"103", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", false},
	{"101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n", false},
	{"100 with a length", "HTTP/1.1 100 Continue\r\nContent-Length: 2\r\n\r\nok", false},
	{"199 with a length", "HTTP/1.1 199 X\r\nContent-Length: 0\r\n\r\n", false},
	{"101 with a length", "HTTP/1.1 101 Switching Protocols\r\nContent-Length: 2\r\n\r\nok", false},
	{"999 with a length", "HTTP/1.1 999 X\r\nContent-Length: 2\r\n\r\nok", false},
	{"tab in reason", "HTTP/1.1 200 O\tK\r\nContent-Length: 2\r\n\r\nok", false},
	{"8-bit reason", "HTTP/1.1 200 \xc3\xa9\r\nContent-Length: 2\r\n\r\nok", false},
	{"bare LF lines", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", false},
	{"bare LF in a field", "HTTP/1.1 200 OK\r\nContent-Length: 2\nX-A: 1\r\n\r\nok", false},
	{"bare CR in a field", "HTTP/1.1 200 OK\r\nX-A: 1\r2\r\nContent-Length: 2\r\n\r\nok", false},
	{"CR CR LF", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\r\n\r\nok", false},
	{"NUL in a value", "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok", false},
	{"DEL in a value", "HTTP/1.1 200 OK\r\nX-A: a\x7fb\r\nContent-Length: 2\r\n\r\nok", false},
	{"8-bit value", "HTTP/1.1 200 OK\r\nX-A: caf\xc3\xa9\r\nContent-Length: 2\r\n\r\nok", false},
	{"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", false},
	{"space in name", "HTTP/1.1 200 OK\r\nX A: 1\r\nContent-Length: 2\r\n\r\nok", false},
	{"no colon", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nJunk\r\n\r\nok", false},
	{"empty name", "HTTP/1.1 200 OK\r\n: x\r\nContent-Length: 2\r\n\r\nok", false},
	{"folded", "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 2\r\n\r\nok", false},
	{"first line folded", "HTTP/1.1 200 OK\r\n X-A: 1\r\nContent-Length: 2\r\n\r\nok", false},
	{"8-bit name", "HTTP/1.1 200 OK\r\nX-\xc3\xa9: 1\r\nContent-Length: 2\r\n\r\nok", false},
	{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", false},
	{"chunked lower case", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nok\r\n0\r\n\r\n", false},
	{"identity", "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 2\r\n\r\nok", false},
	{"trailer", "HTTP/1.1 200 OK\r\nTrailer: X-A\r\nContent-Length: 2\r\n\r\nok", false},
	{"pragma", "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 2\r\n\r\nok", false},
	{"pragma with cache-control", "HTTP/1.1 200 OK\r\npragma: no-cache\r\nCache-Control: max-age=1\r\nContent-Length: 2\r\n\r\nok", false},
	{"no length", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close", false},
	{"no fields", "HTTP/1.1 200 OK\r\n\r\nuntil close", false},
	{"two equal lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", false},
	{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk", false},
	{"lengths in one field", "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", false},
	{"empty length", "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\nok", false},
	{"signed length", "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok", false},
	{"negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok", false},
	{"hex length", "HTTP/1.1 200 OK\r\nContent-Length: 0x2\r\n\r\nok", false},
	{"underscore length", "HTTP/1.1 200 OK\r\nContent-Length: 1_0\r\n\r\nok", false},
	{"19-digit length", "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\nok", false},
	{"length over int64", "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\nok", false},
	{"204 with length", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello", false},
	{"304 with bad length", "HTTP/1.1 304 Not Modified\r\nContent-Length: x\r\n\r\n", false},
	{"empty", "", false},
	{"head cut short", "HTTP/1.1 200 OK\r\nContent-Len", false},
	{"no blank line", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", false},
	{"garbage", "garbage\r\n\r\n", false},
}

// pieceReader returns its data at most size bytes a read (all of it when
// size is 0), then io.EOF: with the last bytes when eofWithData.
type pieceReader struct {
	data        []byte
	size        int
	eofWithData bool
}

func (r *pieceReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(r.data)
	if r.size > 0 && n > r.size {
		n = r.size
	}
	n = copy(p, r.data[:n])
	r.data = r.data[n:]
	if len(r.data) == 0 && r.eofWithData {
		return n, io.EOF
	}
	return n, nil
}

// readOutcome is everything a caller can observe of one response read.
type readOutcome struct {
	err       string
	resp      *http.Response // Body cleared
	noBody    bool
	body      string     // the body's bytes
	bodyReads []bodyRead // each Read's count and error, Close's as n -1
	rest      string     // what is left on the reader for the next answer
}

type bodyRead struct {
	n   int
	err string
}

// readWith reads one answer from in with read, then its body in reads of
// readSize; with closeAfter >= 0 it closes the body after that many reads
// and reads once more.
func readWith(read func(*bufio.Reader, *http.Request) (*http.Response, error), in []byte, req *http.Request, piece, bufSize, readSize int, eofWithData bool, closeAfter int) readOutcome {
	br := bufio.NewReaderSize(&pieceReader{data: in, size: piece, eofWithData: eofWithData}, bufSize)
	var o readOutcome
	resp, err := read(br, req)
	if err != nil {
		o.err = err.Error()
		return o
	}
	body := resp.Body
	o.noBody = body == http.NoBody
	cp := *resp
	cp.Body = nil
	o.resp = &cp
	p := make([]byte, readSize)
	var got []byte
	for i := range 4096 {
		if i == closeAfter {
			r := bodyRead{n: -1}
			if err := body.Close(); err != nil {
				r.err = err.Error()
			}
			o.bodyReads = append(o.bodyReads, r)
		}
		n, err := body.Read(p)
		got = append(got, p[:n]...)
		r := bodyRead{n: n}
		if err != nil {
			r.err = err.Error()
		}
		o.bodyReads = append(o.bodyReads, r)
		if err != nil || i == closeAfter {
			break
		}
	}
	o.body = string(got)
	rest, _ := io.ReadAll(br)
	o.rest = string(rest)
	return o
}

// compareRead reads in with ReadResponse and http.ReadResponse and reports
// any difference; fast says whether fastResponse took it.
func compareRead(t *testing.T, in []byte, method string, piece, bufSize, readSize int, eofWithData bool, closeAfter int) (fast bool) {
	t.Helper()
	var req *http.Request
	if method != "" {
		req = &http.Request{Method: method}
	}
	got := readWith(ReadResponse, in, req, piece, bufSize, readSize, eofWithData, closeAfter)
	want := readWith(http.ReadResponse, in, req, piece, bufSize, readSize, eofWithData, closeAfter)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%q (method %q, pieces of %d, buffer %d, reads of %d, EOF with data %v, close after %d reads):\nReadResponse:      %+v\nhttp.ReadResponse: %+v",
			in, method, piece, bufSize, readSize, eofWithData, closeAfter, describe(got), describe(want))
	}
	br := bufio.NewReaderSize(&pieceReader{data: in, size: piece, eofWithData: eofWithData}, bufSize)
	_, fast, _ = fastResponse(br, req)
	return fast
}

func describe(o readOutcome) string {
	if o.resp == nil {
		return fmt.Sprintf("err=%q", o.err)
	}
	r := o.resp
	return fmt.Sprintf("status=%q code=%d proto=%q %d.%d header=%v length=%d te=%v close=%v trailer=%v noBody=%v body=%q reads=%v rest=%q",
		r.Status, r.StatusCode, r.Proto, r.ProtoMajor, r.ProtoMinor, r.Header, r.ContentLength, r.TransferEncoding, r.Close, r.Trailer, o.noBody, o.body, o.bodyReads, o.rest)
}

func TestReadResponseMatchesNetHTTP(t *testing.T) {
	fastSeen := 0
	for _, c := range readRespCases {
		t.Run(c.name, func(t *testing.T) {
			for _, method := range []string{"GET", "", "HEAD", "POST"} {
				for _, piece := range []int{0, 1, 7, 100} {
					for _, bufSize := range []int{4096, 16} {
						for _, eofWithData := range []bool{false, true} {
							for _, readSize := range []int{512, 3} {
								for _, closeAfter := range []int{-1, 0, 1} {
									if compareRead(t, []byte(c.in), method, piece, bufSize, readSize, eofWithData, closeAfter) {
										fastSeen++
									}
								}
							}
						}
					}
				}
			}
			// The subset is what it says: taken whole from one read for a
			// GET, never for HEAD.
			for _, method := range []string{"GET", ""} {
				var req *http.Request
				if method != "" {
					req = &http.Request{Method: method}
				}
				br := bufio.NewReaderSize(bytes.NewReader([]byte(c.in)), 4096)
				if _, fast, _ := fastResponse(br, req); fast != c.fast {
					t.Errorf("method %q: fastResponse took it: %v, want %v", method, fast, c.fast)
				}
			}
			br := bufio.NewReaderSize(bytes.NewReader([]byte(c.in)), 4096)
			if _, fast, _ := fastResponse(br, &http.Request{Method: "HEAD"}); fast {
				t.Error("fastResponse took the answer to a HEAD request")
			}
		})
	}
	if fastSeen == 0 {
		t.Fatal("the fast path was never taken")
	}
}

// TestReadResponseNotConsumedOnRefusal: what fastResponse leaves to
// net/http is still all on the reader.
func TestReadResponseNotConsumedOnRefusal(t *testing.T) {
	for _, c := range readRespCases {
		if c.fast || c.in == "" {
			continue
		}
		br := bufio.NewReaderSize(bytes.NewReader([]byte(c.in)), 4096)
		if _, fast, err := fastResponse(br, &http.Request{Method: "GET"}); fast || err != nil {
			t.Fatalf("%s: fast %v, err %v", c.name, fast, err)
		}
		rest, _ := io.ReadAll(br)
		if string(rest) != c.in {
			t.Errorf("%s: %d of %d bytes left after a refusal", c.name, len(rest), len(c.in))
		}
	}
}

// TestReadResponseFirstReadError: an error on the first read is returned
// as http.ReadResponse returns it.
func TestReadResponseFirstReadError(t *testing.T) {
	boom := errors.New("boom")
	for _, e := range []error{io.EOF, boom, io.ErrUnexpectedEOF} {
		br := bufio.NewReader(iotestErrReader{e})
		_, gotErr := ReadResponse(br, nil)
		_, wantErr := http.ReadResponse(bufio.NewReader(iotestErrReader{e}), nil)
		if gotErr == nil || gotErr.Error() != wantErr.Error() || errors.Is(gotErr, boom) != errors.Is(wantErr, boom) {
			t.Errorf("%v: ReadResponse %v, http.ReadResponse %v", e, gotErr, wantErr)
		}
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

func TestReadResponseAllocs(t *testing.T) {
	in := []byte(usualHead + usualBody)
	r := bytes.NewReader(in)
	br := bufio.NewReaderSize(r, 4096)
	req := &http.Request{Method: "GET"}
	var body [128]byte
	fast := testing.AllocsPerRun(100, func() {
		r.Reset(in)
		br.Reset(r)
		resp, err := ReadResponse(br, req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadFull(resp.Body, body[:len(usualBody)])
	})
	std := testing.AllocsPerRun(100, func() {
		r.Reset(in)
		br.Reset(r)
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadFull(resp.Body, body[:len(usualBody)])
	})
	t.Logf("allocations per usual answer: ReadResponse %.0f, http.ReadResponse %.0f", fast, std)
	if fast > 5 {
		t.Errorf("ReadResponse: %.0f allocations per usual answer, want at most 5 (http.ReadResponse: %.0f)", fast, std)
	}
}

func FuzzReadResponse(f *testing.F) {
	for _, c := range readRespCases {
		f.Add([]byte(c.in), uint8(0), uint8(0), false, int8(-1))
		f.Add([]byte(c.in), uint8(1), uint8(7), true, int8(0))
		f.Add([]byte(c.in), uint8(8+16), uint8(3), false, int8(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, mode, piece uint8, eofWithData bool, closeAfter int8) {
		method := [...]string{"GET", "HEAD", "", "POST"}[mode%4]
		bufSize := 4096
		if mode&4 != 0 {
			bufSize = 16
		}
		readSize := 512
		if mode&8 != 0 {
			readSize = 1 + int(mode>>4)
		}
		compareRead(t, in, method, int(piece), bufSize, readSize, eofWithData, int(closeAfter))
	})
}

func BenchmarkReadResponse(b *testing.B) {
	in := []byte(usualHead + usualBody)
	req := &http.Request{Method: "GET"}
	for _, v := range []struct {
		name string
		read func(*bufio.Reader, *http.Request) (*http.Response, error)
	}{{"httphead", ReadResponse}, {"net-http", http.ReadResponse}} {
		b.Run(v.name, func(b *testing.B) {
			r := bytes.NewReader(in)
			br := bufio.NewReaderSize(r, 4096)
			var body [128]byte
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(in)
				br.Reset(r)
				resp, err := v.read(br, req)
				if err != nil {
					b.Fatal(err)
				}
				io.ReadFull(resp.Body, body[:len(usualBody)])
			}
		})
	}
}
