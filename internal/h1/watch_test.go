package h1

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/proxy"
)

// hookServer serves /hold by setting the request context's cancel hook
// (as the proxy's upstream exchange does) and reporting how long after
// the request it ran (-1: not within 5 s).
func hookServer(t *testing.T) (addr string, offered chan bool, fired chan time.Duration) {
	offered = make(chan bool, 1)
	fired = make(chan time.Duration, 1)
	addr, _, _ = reviewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h, ok := r.Context().(proxy.CancelHook)
		ran := make(chan struct{})
		ok = ok && h.AfterCancel(func() { close(ran) })
		offered <- ok
		if !ok {
			return
		}
		select {
		case <-ran:
			fired <- time.Since(start)
		case <-time.After(5 * time.Second):
			h.StopAfterCancel()
			fired <- -1
		}
	}), 3*time.Second)
	return addr, offered, fired
}

// TestWatchRunsHookWhenClientLeaves: a client that closes its connection
// while its request is served cancels the request and runs the hook (the
// upstream exchange's abort), also when it sent a byte of a next request
// first, which the server's reader holds (found in review: the watch
// used not to run then, and the upstream exchange was held until its
// timeout; net/http notices this close).
func TestWatchRunsHookWhenClientLeaves(t *testing.T) {
	t.Parallel()
	for _, send := range []string{
		"GET /hold HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /hold HTTP/1.1\r\nHost: a\r\n\r\nG",
		"GET /hold HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		addr, offered, fired := hookServer(t)
		c := reviewDial(t, addr)
		io.WriteString(c, send)
		if !<-offered {
			t.Fatal("the request context did not offer the hook")
		}
		time.Sleep(2 * watchAfter)
		c.Close()
		if d := <-fired; d < 0 {
			t.Errorf("%q then close: the hook did not run within 5 s of the close", send)
		}
	}
}

// TestWatchedByteAfterBufferedBytes: while a request is served, the
// client watch reads one byte that comes after bytes the server's reader
// holds already (a pipelined request). That byte must come after them,
// whoever reads the connection next: the server itself, net/http when
// the next request is handed over (it has a body), or a handler that
// hijacks the connection.
func TestWatchedByteAfterBufferedBytes(t *testing.T) {
	t.Parallel()
	addr, _, _ := reviewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			time.Sleep(400 * time.Millisecond) // the watch reads while this runs
			io.WriteString(w, "slow")
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			w.Write(b)
		case "/hijack":
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			line, _ := brw.ReadString('!')
			brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(line)) + "\r\nConnection: close\r\n\r\n" + line)
			brw.Flush()
		default:
			io.WriteString(w, r.URL.Path)
		}
	}), 3*time.Second)

	for _, tc := range []struct {
		name, first, later, want string
	}{
		// The server reads the next head: "GET /abc" is split around
		// the watched byte ('b' of "/abc" in the later write).
		{"server", "GET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET /a", "bc HTTP/1.1\r\nHost: a\r\n\r\n", "/abc"},
		// Handed to net/http: a POST whose body straddles the byte.
		{"handed over", "GET /slow HTTP/1.1\r\nHost: a\r\n\r\nPOST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhe", "llo", "hello"},
		// Hijacked: the handler reads what follows its head.
		{"hijacked", "GET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET /hijack HTTP/1.1\r\nHost: a\r\n\r\nab", "cd!", "abcd!"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := reviewDial(t, addr)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, tc.first)
			time.Sleep(150 * time.Millisecond) // the watch is reading by now
			io.WriteString(c, tc.later)
			br := bufio.NewReader(c)
			for i, want := range []string{"slow", tc.want} {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("answer %d: %v", i+1, err)
				}
				b, _ := io.ReadAll(resp.Body)
				if string(b) != want {
					t.Fatalf("answer %d: %q, want %q", i+1, b, want)
				}
			}
		})
	}
}
