package h1

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReviewStrayWritesStayOnTheirConnection: a goroutine that outlives
// its handler and keeps using the ResponseWriter (as ReverseProxy's 1xx
// relay does from the Transport's read loop when the round trip is
// canceled: WriteHeader(103), or a stray Write and Flush) must not write
// into a pooled buffer that serves another connection by then, nor
// crash. net/http's writer there writes into its own connection only.
func TestReviewStrayWritesStayOnTheirConnection(t *testing.T) {
	var stop atomic.Bool
	var strays sync.WaitGroup
	addr, _, _ := reviewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stray" {
			io.WriteString(w, "ok")
			return
		}
		w.Header().Set("Link", "</LEAK>")
		strays.Add(1)
		go func() {
			defer strays.Done()
			for !stop.Load() {
				w.WriteHeader(http.StatusEarlyHints)
				w.Write([]byte("LEAK"))
				if f, ok := w.(http.Flusher); ok {
					f.Flush()
				}
			}
		}()
		time.Sleep(time.Millisecond)
	}), 3*time.Second)
	deadline := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { // strays
			defer wg.Done()
			for time.Now().Before(deadline) {
				c := reviewDial(t, addr)
				c.SetDeadline(time.Now().Add(time.Second))
				io.WriteString(c, "GET /stray HTTP/1.1\r\nHost: a\r\n\r\n")
				io.Copy(io.Discard, c)
				c.Close()
			}
		}()
	}
	var bad atomic.Value
	for range 4 {
		wg.Add(1)
		go func() { // victims
			defer wg.Done()
			c := reviewDial(t, addr)
			br := bufio.NewReader(c)
			for time.Now().Before(deadline) && bad.Load() == nil {
				c.SetDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(c, "GET /victim HTTP/1.1\r\nHost: a\r\n\r\n")
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					bad.Store("victim: " + err.Error())
					return
				}
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 || string(b) != "ok" || resp.Header.Get("Link") != "" {
					bad.Store("victim got " + resp.Status + " " + strings.TrimSpace(string(b)))
					return
				}
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	strays.Wait()
	if v := bad.Load(); v != nil {
		t.Fatal(v)
	}
}
