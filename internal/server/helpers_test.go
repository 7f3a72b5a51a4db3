package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/pkitest"
)

// gateway is a Server running on loopback for one test.
type gateway struct {
	srv        *Server
	https      string // 127.0.0.1:port
	http       string // "" when off
	configPath string
	logs       *syncBuffer
	stop       func() error
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

// startGateway writes yaml to a config file, loads it as `tlsgate serve`
// would, and serves it until the test ends.
func startGateway(t *testing.T, yaml string) *gateway {
	t.Helper()
	return startGatewayOpts(t, yaml, Options{})
}

// startGatewayOpts is startGateway with server options (ConfigPath is
// filled in, and Log unless set: the test's log, kept in gateway.logs).
func startGatewayOpts(t testing.TB, yaml string, opts Options) *gateway {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "tlsgate.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("loading config: %v", err)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(dir, "data")
	}
	logs := &syncBuffer{}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	opts.ConfigPath = path
	srv, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("building gateway: %v", err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	g := &gateway{srv: srv, https: srv.HTTPSAddr().String(), configPath: path, logs: logs}
	if a := srv.HTTPAddr(); a != nil {
		g.http = a.String()
	}
	var once sync.Once
	var serr error
	g.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case serr = <-done:
			case <-time.After(40 * time.Second):
				serr = fmt.Errorf("gateway did not stop within 40s")
			}
		})
		return serr
	}
	t.Cleanup(func() {
		if err := g.stop(); err != nil {
			t.Errorf("stopping gateway: %v", err)
		}
	})
	return g
}

// testWriter sends logs to t.Log only while the test runs.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	if testing.Verbose() {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// backend starts an upstream that answers with its name and the headers it
// got, as JSON-ish text.
func backend(t *testing.T, name string) string {
	t.Helper()
	srv := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := r.URL.Query().Get("sleep"); d != "" {
			dur, _ := time.ParseDuration(d)
			select {
			case <-time.After(dur):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("X-Backend", name)
		fmt.Fprintf(w, "backend=%s path=%s xff=%s proto=%s host=%s reqid=%s\n", name, r.URL.Path,
			r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Host"), r.Header.Get("X-Request-Id"))
	}))
	return srv
}

func newLoopbackServer(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return "http://" + ln.Addr().String()
}

// pki is a test CA with a server certificate written to files.
type pki struct {
	ca       *pkitest.CA
	root     string // CA PEM path
	certFile string
	keyFile  string
	dir      string
}

func newPKI(t testing.TB, names ...string) *pki {
	t.Helper()
	dir := t.TempDir()
	ca := pkitest.NewCA(t, "tlsgate test CA")
	p := &pki{ca: ca, dir: dir, root: ca.WriteRoot(t, dir)}
	p.certFile, p.keyFile = pkitest.WriteFiles(t, dir, "server", ca.Issue(t, pkitest.Leaf{Names: names}))
	return p
}

// client returns an HTTP client trusting p's CA, dialing addr for every
// host name.
func (p *pki) client(addr string, h2 bool) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: p.ca.Pool()},
		ForceAttemptHTTP2: h2,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	if !h2 {
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// run executes a real client program with a deadline and returns its
// combined output and error.
func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func leafOf(t *testing.T, certFile string) *x509.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(certFile, strings.TrimSuffix(certFile, ".pem")+".key")
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf
}
