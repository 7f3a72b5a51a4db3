package h1

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHeaderSnapshotPerRequest: the header snapshot taken at WriteHeader
// is pooled storage; each answer, on one connection and on two
// interleaved ones, carries exactly the headers its own handler set before
// WriteHeader, none set after it (net/http's rule) and none of another
// request's. net/http's server is held to the same check, so that the
// test's expectations are net/http's.
func TestHeaderSnapshotPerRequest(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		hd := w.Header()
		for i := range n % 40 { // past maxSnapshotKeys too
			hd[fmt.Sprintf("X-R%d-%d", n, i)] = []string{"a" + strconv.Itoa(n), "b" + strconv.Itoa(n)}
		}
		w.WriteHeader(http.StatusOK)
		hd.Set("X-After", strconv.Itoa(n))
		if vv := hd[fmt.Sprintf("X-R%d-0", n)]; vv != nil {
			vv[0] = "changed" // the snapshot copied the values too
		}
		io.WriteString(w, "ok")
	})
	p := newPair(t, h)
	for _, side := range []struct{ name, addr string }{{"net-http", p.std}, {"h1", p.fast}} {
		t.Run(side.name, func(t *testing.T) {
			var conns [2]*tls.Conn
			var readers [2]*bufio.Reader
			for i := range conns {
				c, err := tls.Dial("tcp", side.addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				conns[i], readers[i] = c, bufio.NewReader(c)
			}
			for n := range 120 {
				c, br := conns[n%2], readers[n%2]
				fmt.Fprintf(c, "GET /?n=%d HTTP/1.1\r\nHost: x\r\n\r\n", n)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("request %d: %v", n, err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				got := 0
				for k, vv := range resp.Header {
					if !strings.HasPrefix(k, "X-") {
						continue
					}
					want := []string{"a" + strconv.Itoa(n), "b" + strconv.Itoa(n)}
					if !strings.HasPrefix(k, fmt.Sprintf("X-R%d-", n)) || len(vv) != 2 || vv[0] != want[0] || vv[1] != want[1] {
						t.Fatalf("request %d: answer has %s: %q", n, k, vv)
					}
					got++
				}
				if got != n%40 {
					t.Fatalf("request %d: %d of its %d headers", n, got, n%40)
				}
			}
		})
	}
}
