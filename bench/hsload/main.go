// Command hsload is a TLS-handshake load generator used by bench/run.sh.
//
// Every request uses a brand-new TCP+TLS connection: dial, TLS 1.3 handshake
// (ALPN http/1.1), exactly one "GET ... HTTP/1.1" with "Connection: close",
// read the whole response, close. So requests/s here is handshakes/s.
//
// Without -resume every handshake is a full one (no session cache at all).
// With -resume all workers share one tls.ClientSessionCache, so after the
// first connection the client offers a TLS 1.3 session ticket (PSK) and the
// server can resume; ConnectionState().DidResume is counted per connection.
//
// Output is one JSON object on stdout:
//
//	{"requests":N,"errors":N,"resumed":N,"seconds":S,"non2xx":N,...}
//
// "requests" counts successful (2xx, fully read) exchanges; "errors" counts
// everything else (dial/handshake/IO failures and non-2xx responses, the
// latter also reported separately as "non2xx"). "server_kept_open" counts
// responses after which the server did not close within 2s (not an error).
// The run stops at -d or after -n attempts, whichever comes first; each
// connection is bounded by -timeout.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// lingerWait bounds how long we wait for the server to close after the
// response (it must, since we send "Connection: close").
const lingerWait = 2 * time.Second

type result struct {
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	Resumed    int64   `json:"resumed"`
	Seconds    float64 `json:"seconds"`
	Non2xx     int64   `json:"non2xx"`
	KeptOpen   int64   `json:"server_kept_open"`
	ReqPerSec  float64 `json:"req_per_sec"`
	Resume     bool    `json:"resume_mode"`
	Curve      string  `json:"curve"`
	FirstError string  `json:"first_error,omitempty"`
}

func main() {
	rawURL := flag.String("url", "", "https://127.0.0.1:PORT/path to GET (required)")
	conc := flag.Int("c", 50, "concurrency (parallel connections)")
	dur := flag.Duration("d", 5*time.Second, "test duration (e.g. 5s)")
	maxReq := flag.Int64("n", 10_000_000, "maximum number of requests (connections) to attempt")
	resume := flag.Bool("resume", false, "share a TLS client session cache so connections resume via TLS 1.3 tickets")
	caFile := flag.String("cacert", "", "PEM file with the CA(s) to trust (default: system roots)")
	curve := flag.String("curve", "x25519", "key-exchange group to offer: x25519, p256, or default (Go's own list, which includes the post-quantum hybrid)")
	timeout := flag.Duration("timeout", 10*time.Second, "per-connection deadline (dial+handshake+request+response)")
	flag.Parse()

	if err := run(*rawURL, *conc, *dur, *maxReq, *resume, *caFile, *curve, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "hsload:", err)
		os.Exit(2)
	}
}

func run(rawURL string, conc int, dur time.Duration, maxReq int64, resume bool, caFile, curve string, timeout time.Duration) error {
	if rawURL == "" {
		return fmt.Errorf("-url is required")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("bad -url: %v", err)
	}
	if u.Scheme != "https" {
		return fmt.Errorf("-url must be https://")
	}
	if conc < 1 || dur <= 0 || maxReq < 1 {
		return fmt.Errorf("-c, -d and -n must be positive")
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	path := u.RequestURI()

	cfg := &tls.Config{
		ServerName: u.Hostname(),
		MinVersion: tls.VersionTLS13,
		MaxVersion: tls.VersionTLS13,
		NextProtos: []string{"http/1.1"},
	}
	switch strings.ToLower(curve) {
	case "x25519":
		cfg.CurvePreferences = []tls.CurveID{tls.X25519}
	case "p256", "p-256":
		cfg.CurvePreferences = []tls.CurveID{tls.CurveP256}
	case "default", "":
	default:
		return fmt.Errorf("unknown -curve %q", curve)
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("no certificates found in %s", caFile)
		}
		cfg.RootCAs = pool
	}
	if resume {
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(64)
	}

	reqBytes := []byte("GET " + path + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUser-Agent: tlsgate-bench-hsload\r\nAccept: */*\r\nConnection: close\r\n\r\n")

	var (
		attempts, ok, errs, resumed, non2xx, keptOpen atomic.Int64
		firstErr                                      atomic.Value
	)
	noteErr := func(err error) {
		errs.Add(1)
		firstErr.CompareAndSwap(nil, err.Error())
	}

	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	dialer := &net.Dialer{Timeout: timeout}

	one := func() {
		deadline := time.Now().Add(timeout)
		cctx, ccancel := context.WithDeadline(context.Background(), deadline)
		defer ccancel()
		raw, err := dialer.DialContext(cctx, "tcp", addr)
		if err != nil {
			noteErr(fmt.Errorf("dial: %w", err))
			return
		}
		defer raw.Close()
		_ = raw.SetDeadline(deadline)
		conn := tls.Client(raw, cfg)
		if err := conn.HandshakeContext(cctx); err != nil {
			noteErr(fmt.Errorf("handshake: %w", err))
			return
		}
		st := conn.ConnectionState()
		if st.Version != tls.VersionTLS13 {
			noteErr(fmt.Errorf("negotiated TLS version %#x, want TLS 1.3", st.Version))
			return
		}
		if st.NegotiatedProtocol != "" && st.NegotiatedProtocol != "http/1.1" {
			noteErr(fmt.Errorf("negotiated ALPN %q, want http/1.1", st.NegotiatedProtocol))
			return
		}
		if _, err := conn.Write(reqBytes); err != nil {
			noteErr(fmt.Errorf("write: %w", err))
			return
		}
		resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 32<<10), nil)
		if err != nil {
			noteErr(fmt.Errorf("read response: %w", err))
			return
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			noteErr(fmt.Errorf("read body: %w", err))
			return
		}
		// We asked for "Connection: close", so the server must close now.
		// Wait (briefly) for its close_notify/FIN so that the server, not
		// us, is the active closer, as in real HTTP/1.1 traffic; this also
		// keeps client-side TIME_WAIT sockets from piling up on loopback.
		_ = conn.SetReadDeadline(time.Now().Add(lingerWait))
		if _, err := io.Copy(io.Discard, conn); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				keptOpen.Add(1)
			}
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			non2xx.Add(1)
			noteErr(fmt.Errorf("status %s", resp.Status))
			return
		}
		// DidResume is known after the handshake; the session ticket for the
		// *next* connection arrives post-handshake and is stored in the cache
		// while the response is being read above.
		if st.DidResume {
			resumed.Add(1)
		}
		ok.Add(1)
	}

	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && attempts.Add(1) <= maxReq {
				one()
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()

	res := result{
		Requests: ok.Load(),
		Errors:   errs.Load(),
		Resumed:  resumed.Load(),
		Seconds:  secs,
		Non2xx:   non2xx.Load(),
		KeptOpen: keptOpen.Load(),
		Resume:   resume,
		Curve:    strings.ToLower(curve),
	}
	if secs > 0 {
		res.ReqPerSec = float64(res.Requests) / secs
	}
	if v, _ := firstErr.Load().(string); v != "" {
		res.FirstError = v
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(res); err != nil {
		return err
	}
	if resume && res.Requests > 0 && res.Resumed == 0 {
		fmt.Fprintln(os.Stderr, "hsload: -resume was set but no connection resumed a session")
		os.Exit(3)
	}
	return nil
}
