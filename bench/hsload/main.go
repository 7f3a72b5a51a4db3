// Command hsload is a TLS-handshake load generator used by bench/run.sh.
//
// Every request uses a brand-new TCP+TLS connection: dial, TLS 1.3 handshake
// (ALPN http/1.1), exactly one "GET ... HTTP/1.1" with "Connection: close",
// read the whole response, close. So requests/s here is handshakes/s.
//
// With -keepalive each of the -c workers instead keeps one connection open
// and sends its requests on it one after the other (HTTP/1.1 keep-alive, no
// pipelining), like wrk; it reconnects only if the connection fails or the
// server closes it. Then requests/s is requests/s, not handshakes/s.
//
// With -keepalive -rate R the load is open loop instead: the requests
// arrive as a Poisson process of R a second in all (each worker's own of
// R/c, on its connection, opened before the clock starts), whether or not
// the answers keep up. A request's latency runs from its scheduled arrival,
// not from when its connection was free to send it, so time spent waiting
// behind a slow answer counts (no coordinated omission), and the output
// gains "latency_ms" percentiles and "offered_rate". bench/run.sh uses it
// to compare p99 latency at the same offered load.
//
// With -cert and -key the client presents that certificate (mutual TLS)
// whenever the server asks for one.
//
// Without -resume every handshake is a full one (no session cache at all).
// With -resume all workers share one tls.ClientSessionCache, so after the
// first connection the client offers a TLS 1.3 session ticket (PSK) and the
// server can resume; ConnectionState().DidResume is counted per connection.
//
// With -hold N the tool instead measures nothing itself: it opens N
// connections (at most -c at a time), sends ONE GET on each (-proto h1:
// HTTP/1.1 via ALPN http/1.1; -proto h2: HTTP/2 via ALPN h2, checked), reads
// the response and keeps every connection open and idle. When all N are done
// it prints one line "ready {...}" (JSON: opened, errors, seconds, first
// error) and then holds them until SIGTERM/SIGINT or until -d has passed
// since "ready" (or stdin reaches EOF, with -hold-stdin), then closes them all and
// prints the usual JSON object (requests = connections held). bench/run.sh
// uses it to measure a proxy's memory per idle keep-alive connection.
//
// Output is one JSON object on stdout:
//
//	{"requests":N,"errors":N,"resumed":N,"seconds":S,"non2xx":N,"connections":N,...}
//
// "requests" counts successful (2xx, fully read) exchanges; "errors" counts
// everything else (dial/handshake/IO failures and non-2xx responses, the
// latter also reported separately as "non2xx"). "server_kept_open" counts
// responses after which the server did not close within 2s (not an error).
// "connections" counts completed handshakes and "resumed" those of them
// that resumed a session. The run stops at -d or after -n attempts (requests),
// whichever comes first; each connection (with -keepalive: each request) is
// bounded by -timeout.
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
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
	Conns      int64   `json:"connections"`
	Resume     bool    `json:"resume_mode"`
	KeepAlive  bool    `json:"keepalive_mode"`
	ClientCert bool    `json:"client_cert"`
	Curve      string  `json:"curve"`
	FirstError string  `json:"first_error,omitempty"`
	// -rate only: the offered load and the latency percentiles of the
	// requests that arrived within -d and were answered.
	OfferedRate float64            `json:"offered_rate,omitempty"`
	Latency     map[string]float64 `json:"latency_ms,omitempty"`
}

type options struct {
	rawURL    string
	conc      int
	dur       time.Duration
	maxReq    int64
	resume    bool
	keepAlive bool
	caFile    string
	certFile  string
	keyFile   string
	curve     string
	timeout   time.Duration
	hold      int
	holdStdin bool
	proto     string
	rate      float64
	out       io.Writer // where the JSON goes (os.Stdout)
}

func main() {
	o := options{out: os.Stdout}
	flag.StringVar(&o.rawURL, "url", "", "https://127.0.0.1:PORT/path to GET (required)")
	flag.IntVar(&o.conc, "c", 50, "concurrency (parallel connections)")
	flag.DurationVar(&o.dur, "d", 5*time.Second, "test duration (e.g. 5s)")
	flag.Int64Var(&o.maxReq, "n", 10_000_000, "maximum number of requests to attempt (without -keepalive: connections)")
	flag.BoolVar(&o.resume, "resume", false, "share a TLS client session cache so connections resume via TLS 1.3 tickets")
	flag.BoolVar(&o.keepAlive, "keepalive", false, "each worker keeps one connection and sends its requests on it (HTTP/1.1 keep-alive)")
	flag.Float64Var(&o.rate, "rate", 0, "with -keepalive: open loop, requests arrive as a Poisson process of this many a second in all; report latency percentiles")
	flag.StringVar(&o.caFile, "cacert", "", "PEM file with the CA(s) to trust (default: system roots)")
	flag.StringVar(&o.certFile, "cert", "", "client certificate chain (PEM) to present when the server asks for one (needs -key)")
	flag.StringVar(&o.keyFile, "key", "", "private key (PEM) of -cert")
	flag.StringVar(&o.curve, "curve", "x25519", "key-exchange group to offer: x25519, p256, or default (Go's own list, which includes the post-quantum hybrid)")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Second, "per-connection deadline (dial+handshake+request+response); with -keepalive also per request")
	flag.IntVar(&o.hold, "hold", 0, "open this many connections (at most -c at a time), one GET each, then hold them idle until a signal or -d (see -proto)")
	flag.BoolVar(&o.holdStdin, "hold-stdin", false, "with -hold: also stop holding when stdin reaches EOF")
	flag.StringVar(&o.proto, "proto", "h1", "with -hold: h1 (HTTP/1.1) or h2 (HTTP/2 via ALPN)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "hsload: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}

	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "hsload:", err)
		os.Exit(2)
	}
}

func run(o options) error {
	rawURL, conc, dur, maxReq, resume, curve, timeout := o.rawURL, o.conc, o.dur, o.maxReq, o.resume, o.curve, o.timeout
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
	if conc < 1 || dur <= 0 || maxReq < 1 || timeout <= 0 {
		return fmt.Errorf("-c, -d, -n and -timeout must be positive")
	}
	if (o.certFile == "") != (o.keyFile == "") {
		return fmt.Errorf("-cert and -key go together")
	}
	if o.rate < 0 || o.rate > 0 && !o.keepAlive {
		return fmt.Errorf("-rate must be positive and needs -keepalive")
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
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("no certificates found in %s", o.caFile)
		}
		cfg.RootCAs = pool
	}
	if o.certFile != "" {
		cert, err := tls.LoadX509KeyPair(o.certFile, o.keyFile)
		if err != nil {
			return fmt.Errorf("client certificate: %v", err)
		}
		// Always present it when asked (as curl --cert does), whatever CA
		// names the server lists: whether it is accepted is the server's
		// decision, and a refusal shows up as errors/non-2xx.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cert, nil
		}
	}
	if o.hold > 0 {
		return hold(o, cfg, u)
	}
	if resume {
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(64)
	}

	connHdr := "Connection: close\r\n"
	if o.keepAlive {
		connHdr = "" // HTTP/1.1 default: keep-alive
	}
	reqBytes := []byte("GET " + path + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUser-Agent: tlsgate-bench-hsload\r\nAccept: */*\r\n" + connHdr + "\r\n")

	var (
		attempts, ok, errs, resumed, non2xx, keptOpen, conns atomic.Int64
		firstErr                                             atomic.Value
	)
	noteErr := func(err error) {
		errs.Add(1)
		firstErr.CompareAndSwap(nil, err.Error())
	}

	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	dialer := &net.Dialer{Timeout: timeout}

	// connect dials and completes a TLS 1.3 handshake by deadline (which
	// also stays set on the connection).
	connect := func(deadline time.Time) (*tls.Conn, error) {
		cctx, ccancel := context.WithDeadline(context.Background(), deadline)
		defer ccancel()
		raw, err := dialer.DialContext(cctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("dial: %w", err)
		}
		_ = raw.SetDeadline(deadline)
		conn := tls.Client(raw, cfg)
		if err := conn.HandshakeContext(cctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("handshake: %w", err)
		}
		st := conn.ConnectionState()
		if st.Version != tls.VersionTLS13 {
			raw.Close()
			return nil, fmt.Errorf("negotiated TLS version %#x, want TLS 1.3", st.Version)
		}
		if st.NegotiatedProtocol != "" && st.NegotiatedProtocol != "http/1.1" {
			raw.Close()
			return nil, fmt.Errorf("negotiated ALPN %q, want http/1.1", st.NegotiatedProtocol)
		}
		conns.Add(1)
		// DidResume is known after the handshake; the session ticket for the
		// *next* connection arrives post-handshake and is stored in the cache
		// while the response is being read.
		if st.DidResume {
			resumed.Add(1)
		}
		return conn, nil
	}

	// one is one request on a connection of its own (default mode).
	one := func() {
		conn, err := connect(time.Now().Add(timeout))
		if err != nil {
			noteErr(err)
			return
		}
		defer conn.NetConn().Close() // as before: no close_notify from us
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
		ok.Add(1)
	}

	// keepAliveWorker sends requests one after the other on one connection
	// (-keepalive), opening a new one only when the last one failed or the
	// server closed it.
	//
	// With -rate it first connects, waits for the clock to start, and then
	// sends each request at its scheduled arrival (or at once, if the last
	// answer came after it), recording each latency from the arrival.
	var (
		clock   = make(chan struct{}) // closed when the -rate schedule starts
		started time.Time
		lats    [][]time.Duration // -rate: per worker
		ready   sync.WaitGroup    // -rate: workers connected (or failed to)
	)
	if o.rate > 0 {
		lats = make([][]time.Duration, conc)
		ready.Add(conc)
	}
	keepAliveWorker := func(w int) {
		var (
			conn *tls.Conn
			br   *bufio.Reader
			rng  *rand.Rand
			next time.Time
		)
		drop := func() {
			if conn != nil {
				conn.NetConn().Close()
				conn = nil
			}
		}
		defer drop()
		if o.rate > 0 {
			c, err := connect(time.Now().Add(timeout))
			if err != nil {
				noteErr(err)
			} else {
				conn, br = c, bufio.NewReaderSize(c, 32<<10)
			}
			ready.Done()
			<-clock
			rng = rand.New(rand.NewPCG(uint64(w), uint64(started.UnixNano())))
			next = started
		}
		end := started.Add(dur)
		for ctx.Err() == nil && attempts.Add(1) <= maxReq {
			if rng != nil {
				// exponential gaps: this worker's share of a Poisson process
				next = next.Add(time.Duration(rng.ExpFloat64() * float64(conc) / o.rate * float64(time.Second)))
				if !next.Before(end) {
					return
				}
				if d := time.Until(next); d > 0 {
					select {
					case <-time.After(d):
					case <-ctx.Done():
						return
					}
				}
			}
			if conn == nil {
				c, err := connect(time.Now().Add(timeout))
				if err != nil {
					noteErr(err)
					continue
				}
				conn, br = c, bufio.NewReaderSize(c, 32<<10)
			}
			_ = conn.SetDeadline(time.Now().Add(timeout))
			if _, err := conn.Write(reqBytes); err != nil {
				noteErr(fmt.Errorf("write: %w", err))
				drop()
				continue
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				noteErr(fmt.Errorf("read response: %w", err))
				drop()
				continue
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil {
				noteErr(fmt.Errorf("read body: %w", err))
				drop()
				continue
			}
			if resp.Close { // "Connection: close" (or HTTP/1.0): reconnect next time
				drop()
			}
			if resp.StatusCode < 200 || resp.StatusCode > 299 {
				non2xx.Add(1)
				noteErr(fmt.Errorf("status %s", resp.Status))
				continue
			}
			ok.Add(1)
			if rng != nil {
				lats[w] = append(lats[w], time.Since(next))
			}
		}
	}

	var wg sync.WaitGroup
	if o.rate > 0 {
		// connect first; the clock (and the -d deadline) starts after
		for i := 0; i < conc; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				keepAliveWorker(i)
			}()
		}
		ready.Wait()
		started = time.Now()
		cancel() // -d counts from now, not from the start of the program
		ctx, cancel = context.WithDeadline(context.Background(), started.Add(dur+timeout))
		defer cancel()
		close(clock)
	}
	start := time.Now()
	for i := 0; i < conc && o.rate == 0; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if o.keepAlive {
				keepAliveWorker(i)
				return
			}
			for ctx.Err() == nil && attempts.Add(1) <= maxReq {
				one()
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()

	res := result{
		Requests:   ok.Load(),
		Errors:     errs.Load(),
		Resumed:    resumed.Load(),
		Seconds:    secs,
		Non2xx:     non2xx.Load(),
		KeptOpen:   keptOpen.Load(),
		Conns:      conns.Load(),
		Resume:     resume,
		KeepAlive:  o.keepAlive,
		ClientCert: o.certFile != "",
		Curve:      strings.ToLower(curve),
	}
	if secs > 0 {
		res.ReqPerSec = float64(res.Requests) / secs
	}
	if v, _ := firstErr.Load().(string); v != "" {
		res.FirstError = v
	}
	if o.rate > 0 {
		res.OfferedRate = o.rate
		res.Seconds = dur.Seconds() // the schedule's length: answers to its last arrivals may come after it
		res.ReqPerSec = float64(res.Requests) / res.Seconds
		res.Latency = percentiles(lats)
	}
	enc := json.NewEncoder(o.out)
	if err := enc.Encode(res); err != nil {
		return err
	}
	if resume && res.Requests > 0 && res.Resumed == 0 {
		fmt.Fprintln(os.Stderr, "hsload: -resume was set but no connection resumed a session")
		os.Exit(3)
	}
	return nil
}

// percentiles returns the nearest-rank percentiles of all latencies, in ms.
func percentiles(per [][]time.Duration) map[string]float64 {
	var all []time.Duration
	for _, l := range per {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return nil
	}
	slices.Sort(all)
	out := map[string]float64{"max": float64(all[len(all)-1]) / 1e6}
	for _, p := range []struct {
		name string
		q    float64
	}{{"p50", 0.50}, {"p90", 0.90}, {"p99", 0.99}, {"p99.9", 0.999}} {
		i := int(math.Ceil(p.q*float64(len(all)))) - 1
		out[p.name] = float64(all[max(i, 0)]) / 1e6
	}
	return out
}

// hold opens o.hold connections with one GET each and keeps them idle (-hold).
func hold(o options, cfg *tls.Config, u *url.URL) error {
	if o.proto != "h1" && o.proto != "h2" {
		return fmt.Errorf("-proto must be h1 or h2, not %q", o.proto)
	}
	if o.resume || o.keepAlive {
		return fmt.Errorf("-hold does not go with -resume or -keepalive")
	}
	// One http.Transport per connection: a fresh transport has no pooled
	// connection, so its one GET dials exactly one connection, which then
	// stays in that transport's idle pool (IdleConnTimeout 0: no limit; the
	// HTTP/2 transport sends no PINGs by default) until CloseIdleConnections.
	newTransport := func() *http.Transport {
		c := cfg.Clone()
		tr := &http.Transport{
			TLSClientConfig:     c,
			DisableCompression:  true,
			MaxConnsPerHost:     1,
			IdleConnTimeout:     0,
			TLSHandshakeTimeout: o.timeout,
		}
		if o.proto == "h2" {
			c.NextProtos = []string{"h2"}
			tr.ForceAttemptHTTP2 = true
		} else {
			c.NextProtos = []string{"http/1.1"}
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // no h2
		}
		return tr
	}
	wantMajor := 1
	if o.proto == "h2" {
		wantMajor = 2
	}
	var (
		mu       sync.Mutex
		held     []*http.Transport
		errs     atomic.Int64
		firstErr atomic.Value
		next     atomic.Int64
	)
	noteErr := func(err error) {
		errs.Add(1)
		firstErr.CompareAndSwap(nil, err.Error())
	}
	one := func() {
		tr := newTransport()
		ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			noteErr(err)
			return
		}
		req.Header.Set("User-Agent", "tlsgate-bench-hsload")
		resp, err := tr.RoundTrip(req)
		if err != nil {
			tr.CloseIdleConnections()
			noteErr(err)
			return
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
			err = fmt.Errorf("read body: %w", err)
		case resp.StatusCode < 200 || resp.StatusCode > 299:
			err = fmt.Errorf("status %s", resp.Status)
		case resp.ProtoMajor != wantMajor:
			err = fmt.Errorf("got %s, want HTTP/%d", resp.Proto, wantMajor)
		case resp.Close:
			err = fmt.Errorf("server closed the connection after the response")
		}
		if err != nil {
			tr.CloseIdleConnections()
			noteErr(err)
			return
		}
		mu.Lock()
		held = append(held, tr)
		mu.Unlock()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < o.conc && i < o.hold; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(o.hold) {
				one()
			}
		}()
	}
	wg.Wait()
	ready := struct {
		Opened     int     `json:"opened"`
		Errors     int64   `json:"errors"`
		Seconds    float64 `json:"seconds"`
		Proto      string  `json:"proto"`
		FirstError string  `json:"first_error,omitempty"`
	}{Opened: len(held), Errors: errs.Load(), Seconds: time.Since(start).Seconds(), Proto: o.proto}
	if v, _ := firstErr.Load().(string); v != "" {
		ready.FirstError = v
	}
	b, _ := json.Marshal(ready)
	fmt.Printf("ready %s\n", b)

	// Hold until a signal, the -d deadline or (with -hold-stdin) stdin EOF.
	stop := make(chan struct{}, 1)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	if o.holdStdin {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			stop <- struct{}{}
		}()
	}
	held0 := time.Now()
	select {
	case <-sig:
	case <-stop:
	case <-time.After(o.dur):
	}
	signal.Stop(sig)
	for _, tr := range held {
		tr.CloseIdleConnections()
	}
	res := result{
		Requests:  int64(len(held)),
		Errors:    errs.Load(),
		Seconds:   time.Since(held0).Seconds(),
		Conns:     int64(len(held)),
		Curve:     strings.ToLower(o.curve),
		KeepAlive: true,
	}
	res.FirstError = ready.FirstError
	return json.NewEncoder(os.Stdout).Encode(res)
}
