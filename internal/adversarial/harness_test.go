package adversarial

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/pkitest"
	"github.com/tlsgate/tlsgate/internal/server"
)

// ioTimeout bounds every read and write a test does on a socket, so an
// attack the gateway hangs on fails instead of hanging the suite.
const ioTimeout = 5 * time.Second

// gateway is a tlsgate Server on loopback.
type gateway struct {
	srv        *server.Server
	addr       string // HTTPS, 127.0.0.1:port
	configPath string
	logs       *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// loadGateway builds a gateway from yaml as 'tlsgate serve' would, without
// listening: the error is what start-up would report.
func loadGateway(t testing.TB, yaml string) (*server.Server, string, *syncBuffer, error) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "tlsgate.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		return nil, p, nil, fmt.Errorf("loading config: %w", err)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(dir, "data")
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := server.New(cfg, server.Options{Log: log, ConfigPath: p})
	return srv, p, logs, err
}

// startGateway serves yaml until the test ends. The gateway's log is shown
// only when the test fails.
func startGateway(t testing.TB, yaml string) *gateway {
	t.Helper()
	srv, p, logs, err := loadGateway(t, yaml)
	if err != nil {
		t.Fatalf("building gateway: %v", err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	g := &gateway{srv: srv, addr: srv.HTTPSAddr().String(), configPath: p, logs: logs}
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			t.Errorf("gateway did not stop within 40s")
		}
		if t.Failed() {
			l := logs.String()
			if len(l) > 3<<10 {
				l = "...\n" + l[len(l)-3<<10:]
			}
			t.Logf("gateway log:\n%s", l)
		}
	})
	return g
}

// reload writes yaml over the gateway's config file and reloads it.
func (g *gateway) reload(t testing.TB, yaml string) error {
	t.Helper()
	if err := os.WriteFile(g.configPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return g.srv.Reload()
}

// pki is the suite's throwaway PKI: a server CA whose one certificate
// covers every site name used here (so HTTP/2 clients may coalesce), and a
// client CA.
type pki struct {
	serverCA          *pkitest.CA
	certFile, keyFile string
	clientCA          *pkitest.CA
	clientCAFile      string
	client            *tls.Certificate // CN=alice, issued by clientCA
}

var sitesNames = []string{"a.test", "b.test", "c.test", "n.test", "localhost"}

func newPKI(t testing.TB) *pki {
	t.Helper()
	dir := t.TempDir()
	p := &pki{serverCA: pkitest.NewCA(t, "adversarial server CA"), clientCA: pkitest.NewCA(t, "adversarial client CA")}
	p.certFile, p.keyFile = pkitest.WriteFiles(t, dir, "server", p.serverCA.Issue(t, pkitest.Leaf{Names: sitesNames}))
	p.clientCAFile = filepath.Join(dir, "clients.pem")
	if err := os.WriteFile(p.clientCAFile, p.clientCA.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	p.client = p.clientCA.Issue(t, pkitest.Leaf{Names: []string{"alice"}, Client: true})
	return p
}

// tls returns a client config for sni trusting the server CA, offering
// protos, presenting cert (nil: none) whatever the server asks for.
func (p *pki) tls(sni string, cert *tls.Certificate, protos ...string) *tls.Config {
	c := &tls.Config{ServerName: sni, RootCAs: p.serverCA.Pool(), NextProtos: protos}
	if cert != nil {
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return c
}

// httpClient returns a client that dials the gateway for every host name.
func (p *pki) httpClient(g *gateway, h2 bool, cert *tls.Certificate) *http.Client {
	cfg := p.tls("", cert)
	cfg.NextProtos = []string{"http/1.1"}
	if h2 {
		cfg.NextProtos = []string{"h2"}
	}
	tr := &http.Transport{
		TLSClientConfig:   cfg,
		ForceAttemptHTTP2: h2,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, g.addr)
		},
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// get does one request and returns status, headers and body.
func get(t testing.TB, c *http.Client, method, url string, hdr http.Header, body io.Reader) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header, string(b)
}

// seen is one request as an upstream received it.
type seen struct {
	Method     string
	Host       string
	RequestURI string
	Path       string // URL path, decoded, as the upstream's router sees it
	Header     http.Header
	Trailer    http.Header
	Body       string
	Conn       string // the gateway's side of the upstream connection
}

// recorder is a Go net/http upstream that records every request. Its
// router cleans the path as many frameworks do (path.Clean of the decoded
// path): under /internal/ it answers "internal"; elsewhere it echoes the
// request target. It answers 101 to any Upgrade (h2c included, as an
// h2c-capable upstream would) and then echoes bytes, like a WebSocket
// echo server.
type recorder struct {
	URL    string
	mu     sync.Mutex
	reqs   []seen
	active atomic.Int64 // open connections
	srv    *http.Server
}

// bigBody is what /big/ serves: more than any socket buffer holds.
const bigBody = 16 << 20

func newRecorder(t testing.TB) *recorder {
	t.Helper()
	rec := &recorder{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec.srv = &http.Server{Handler: rec, ReadHeaderTimeout: ioTimeout,
		ConnState: func(_ net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				rec.active.Add(1)
			case http.StateClosed, http.StateHijacked:
				rec.active.Add(-1)
			}
		}}
	rec.srv.SetKeepAlivesEnabled(true)
	go rec.srv.Serve(ln)
	t.Cleanup(func() { rec.srv.Close() })
	rec.URL = "http://" + ln.Addr().String()
	return rec
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s := seen{Method: r.Method, Host: r.Host, RequestURI: r.RequestURI, Path: r.URL.Path, Header: r.Header.Clone(),
		Trailer: r.Trailer.Clone(), Body: string(body), Conn: r.RemoteAddr}
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, s)
	rec.mu.Unlock()
	if r.Header.Get("Upgrade") != "" && strings.Contains(r.URL.Path, "refuse") {
		// An upstream that declines the upgrade and stays HTTP.
		w.Header().Set("X-Up-Target", r.RequestURI)
		w.WriteHeader(http.StatusUpgradeRequired)
		fmt.Fprintf(w, "target=%s\n", r.RequestURI)
		return
	}
	if r.Header.Get("Upgrade") != "" {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(ioTimeout))
		fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: %s\r\nConnection: Upgrade\r\n\r\n", r.Header.Get("Upgrade"))
		io.Copy(conn, brw)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/big/") {
		w.Header().Set("Content-Type", "application/octet-stream")
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for i := 0; i < bigBody/len(chunk); i++ {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		return
	}
	w.Header().Set("X-Up-Target", r.RequestURI)
	if strings.HasPrefix(path.Clean(r.URL.Path), "/internal/") {
		fmt.Fprintf(w, "internal verify=%s\n", r.Header.Get("X-Client-Verify"))
		return
	}
	fmt.Fprintf(w, "target=%s\n", r.RequestURI)
}

func (rec *recorder) all() []seen {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]seen(nil), rec.reqs...)
}

// internalHits returns the requests the recorder's /internal/ handler got.
func (rec *recorder) internalHits() []seen {
	var out []seen
	for _, s := range rec.all() {
		if strings.HasPrefix(path.Clean(s.Path), "/internal/") {
			out = append(out, s)
		}
	}
	return out
}

// rawUpstream is a raw-socket HTTP/1.1 upstream. It records every byte
// per connection and parses requests with a strict reader of its own
// (request line, headers, Content-Length or chunked body); respond writes
// the bytes sent back for each request (nil: a well-framed 200 echoing
// the request target in X-Up-Target and the body).
type rawUpstream struct {
	Addr    string
	URL     string
	respond func(c net.Conn, req *rawReq) bool // false: close the connection
	mu      sync.Mutex
	conns   []*bytes.Buffer
	reqs    []*rawReq
}

// rawReq is a request as the raw upstream parsed it.
type rawReq struct {
	Line   string // the request line, verbatim
	Header http.Header
	Body   string
	Conn   int // index of the connection it came on
}

func (r *rawReq) target() string {
	f := strings.Split(r.Line, " ")
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

func newRawUpstream(t testing.TB, respond func(c net.Conn, req *rawReq) bool) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{Addr: ln.Addr().String(), URL: "http://" + ln.Addr().String(), respond: respond}
	var wg sync.WaitGroup
	var closing sync.Map
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			closing.Store(c, true)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer closing.Delete(c)
				defer c.Close()
				u.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		closing.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		wg.Wait()
	})
	return u
}

func (u *rawUpstream) serve(c net.Conn) {
	buf := &bytes.Buffer{}
	u.mu.Lock()
	id := len(u.conns)
	u.conns = append(u.conns, buf)
	u.mu.Unlock()
	br := bufio.NewReader(io.TeeReader(c, lockedWriter{&u.mu, buf}))
	for i := 0; i < 100; i++ {
		c.SetReadDeadline(time.Now().Add(3 * ioTimeout))
		req, err := readRawRequest(br)
		if err != nil {
			return
		}
		req.Conn = id
		u.mu.Lock()
		u.reqs = append(u.reqs, req)
		u.mu.Unlock()
		c.SetWriteDeadline(time.Now().Add(ioTimeout))
		if u.respond != nil {
			if !u.respond(c, req) {
				return
			}
			continue
		}
		writeEcho(c, req, "")
	}
}

// writeEcho answers req with a well-framed 200 naming its target.
func writeEcho(c net.Conn, req *rawReq, extra string) {
	body := "target=" + req.target() + "\n"
	if strings.HasPrefix(req.Line, "HEAD ") {
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Up-Target: %s\r\nContent-Length: %d\r\n\r\n%s", req.target(), len(body), extra)
		return
	}
	fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Up-Target: %s\r\nContent-Length: %d\r\n\r\n%s%s", req.target(), len(body), body, extra)
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (u *rawUpstream) requests() []*rawReq {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*rawReq(nil), u.reqs...)
}

// bytesSeen returns everything the upstream received, all connections.
func (u *rawUpstream) bytesSeen() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var s strings.Builder
	for i, b := range u.conns {
		fmt.Fprintf(&s, "--- conn %d ---\n%s", i, b.String())
	}
	return s.String()
}

// readRawRequest reads one request strictly: CRLF line endings, no
// obs-fold, one framing.
func readRawRequest(br *bufio.Reader) (*rawReq, error) {
	line, err := readCRLF(br)
	if err != nil {
		return nil, err
	}
	req := &rawReq{Line: line, Header: http.Header{}}
	for n := 0; ; n++ {
		l, err := readCRLF(br)
		if err != nil {
			return nil, err
		}
		if l == "" {
			break
		}
		if n > 1000 {
			return nil, fmt.Errorf("too many header fields")
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("malformed header line %q", l)
		}
		req.Header.Add(k, strings.TrimSpace(v))
	}
	te, cl := req.Header.Values("Transfer-Encoding"), req.Header.Values("Content-Length")
	switch {
	case len(te) > 0 && len(cl) > 0:
		return nil, fmt.Errorf("both Content-Length and Transfer-Encoding")
	case len(te) > 0:
		if len(te) != 1 || !strings.EqualFold(te[0], "chunked") {
			return nil, fmt.Errorf("transfer-encoding %q", te)
		}
		var body bytes.Buffer
		for {
			l, err := readCRLF(br)
			if err != nil {
				return nil, err
			}
			var n int64
			if _, err := fmt.Sscanf(strings.SplitN(l, ";", 2)[0], "%x", &n); err != nil || n < 0 || n > 1<<24 {
				return nil, fmt.Errorf("chunk size %q", l)
			}
			if n == 0 {
				for { // trailers
					l, err := readCRLF(br)
					if err != nil {
						return nil, err
					}
					if l == "" {
						break
					}
					k, v, _ := strings.Cut(l, ":")
					req.Header.Add("Trailer-Seen-"+k, strings.TrimSpace(v))
				}
				break
			}
			if _, err := io.CopyN(&body, br, n); err != nil {
				return nil, err
			}
			if l, err := readCRLF(br); err != nil || l != "" {
				return nil, fmt.Errorf("chunk not followed by CRLF")
			}
		}
		req.Body = body.String()
	case len(cl) > 0:
		var n int64
		if len(cl) != 1 {
			return nil, fmt.Errorf("Content-Length %q", cl)
		}
		if _, err := fmt.Sscanf(cl[0], "%d", &n); err != nil || n < 0 || n > 1<<24 {
			return nil, fmt.Errorf("Content-Length %q", cl)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, err
		}
		req.Body = string(b)
	}
	return req, nil
}

func readCRLF(br *bufio.Reader) (string, error) {
	l, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(l, "\r\n") {
		return "", fmt.Errorf("bare LF in %q", l)
	}
	if len(l) > 1<<20 {
		return "", fmt.Errorf("line too long")
	}
	return strings.TrimSuffix(l, "\r\n"), nil
}

// rawH1 opens a TLS connection to the gateway for sni (HTTP/1.1 only),
// presenting cert (nil: none).
func (p *pki) rawH1(t testing.TB, g *gateway, sni string, cert *tls.Certificate) *rawConn {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: ioTimeout}, "tcp", g.addr, p.tls(sni, cert, "http/1.1"))
	if err != nil {
		t.Fatalf("dialing the gateway: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

type rawConn struct {
	*tls.Conn
	br *bufio.Reader
}

// send writes raw bytes.
func (c *rawConn) send(t testing.TB, s string) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatalf("writing: %v", err)
	}
}

// response reads one response (for a request of method) with its body.
func (c *rawConn) response(t testing.TB, method string) (*http.Response, string, error) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp, string(b), err
}

// more reports what else arrives on c within d (for unasked-for responses).
func (c *rawConn) more(d time.Duration) string {
	c.SetReadDeadline(time.Now().Add(d))
	b, _ := io.ReadAll(c.br)
	return string(b)
}

// waitFor polls cond every 10ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
