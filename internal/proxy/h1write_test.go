package proxy

import (
	"bufio"
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// The fast request writer must produce what Request.Write does (header
// order aside), or decline.
func TestWriteBodilessRequestMatchesRequestWrite(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		method  string
		url     string
		headers http.Header
		body    bool
		want    bool // fast path taken
	}{
		{"plain GET", "GET", "http://127.0.0.1:9000/api/x?q=1&r=%2F", http.Header{"Accept": {"*/*"}, "X-Request-Id": {"abc-1"}, "User-Agent": {""}}, false, true},
		{"no UA key: Go default needed", "GET", "http://h/", http.Header{"Accept": {"*/*"}}, false, false},
		{"HEAD with UA", "HEAD", "http://backend:80/", http.Header{"User-Agent": {"curl/8"}}, false, true},
		{"empty UA omitted", "GET", "http://h/", http.Header{"User-Agent": {""}}, false, true},
		{"multi-value", "DELETE", "http://h/a%20b", http.Header{"X-A": {"1", " 2 "}, "User-Agent": {"k6"}}, false, true},
		{"POST gets Content-Length 0", "POST", "http://h/", nil, false, false},
		{"with body", "PUT", "http://h/", nil, true, false},
		{"CR in value", "GET", "http://h/", http.Header{"X-Evil": {"a\r\nX-Injected: 1"}}, false, false},
		{"NUL in key", "GET", "http://h/", http.Header{"X-\x00": {"a"}}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var body *strings.Reader
			req, _ := http.NewRequest(tc.method, tc.url, nil)
			if tc.body {
				body = strings.NewReader("x")
				req, _ = http.NewRequest(tc.method, tc.url, body)
			}
			req.Host = "" // as the proxy's rewrite leaves it: the Host header comes from the URL
			req.Header = tc.headers
			if req.Header == nil {
				req.Header = http.Header{}
			}
			var fast bytes.Buffer
			w := bufio.NewWriter(&fast)
			took := writeBodilessRequest(w, req)
			w.Flush()
			if took != tc.want {
				t.Fatalf("fast path taken = %v, want %v", took, tc.want)
			}
			if !took {
				if fast.Len() != 0 {
					t.Fatalf("declined but wrote %q", fast.String())
				}
				return
			}
			var ref bytes.Buffer
			if err := req.Write(&ref); err != nil {
				t.Fatal(err)
			}
			if got, want := sortedLines(fast.String()), sortedLines(ref.String()); !slices.Equal(got, want) {
				t.Fatalf("fast writer:\n%q\nRequest.Write:\n%q", fast.String(), ref.String())
			}
			if !strings.HasPrefix(fast.String(), strings.SplitN(ref.String(), "\r\n", 2)[0]+"\r\n") || !strings.HasSuffix(fast.String(), "\r\n\r\n") {
				t.Fatalf("request line or end differ:\n%q\n%q", fast.String(), ref.String())
			}
		})
	}
}

func sortedLines(s string) []string {
	lines := strings.Split(s, "\r\n")
	slices.Sort(lines)
	return lines
}
