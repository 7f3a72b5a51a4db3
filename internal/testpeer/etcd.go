package testpeer

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Etcd is a real etcd cluster (Debian's etcd-server) on 127.0.0.1, for
// cluster tests. Members elect fast (heartbeat 50 ms, election 500 ms) so
// a killed leader is replaced within about a second.
type Etcd struct {
	// Endpoints are the members' client URLs, http://127.0.0.1:PORT.
	Endpoints []string
	members   []*etcdMember
	bin       string
	cluster   string // --initial-cluster
	token     string
	opts      EtcdOptions
}

// EtcdOptions turn on TLS for clients: members serve https with
// ServerCert/ServerKey and require client certificates from ClientCA;
// ClientCert/ClientKey is one, used to check the members' health.
type EtcdOptions struct {
	ServerCert, ServerKey, ClientCA string
	ClientCert, ClientKey           string
}

type etcdMember struct {
	name, client, peer, dataDir, logFile string
	proc                                 *process // nil while killed
}

// StartEtcd starts an n-member cluster with its data and logs in dir and
// waits until every member is healthy. It is stopped when the test ends;
// on failure the members' log tails are printed.
func StartEtcd(t testing.TB, dir string, n int) *Etcd {
	t.Helper()
	return StartEtcdWith(t, dir, n, EtcdOptions{})
}

// StartEtcdWith is StartEtcd with options.
func StartEtcdWith(t testing.TB, dir string, n int, opts EtcdOptions) *Etcd {
	t.Helper()
	bin := Require(t, "etcd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e := &Etcd{bin: bin, token: fmt.Sprintf("tlsgate-test-%d", time.Now().UnixNano()), opts: opts}
	scheme := "http"
	if opts.ServerCert != "" {
		scheme = "https"
	}
	var initial []string
	for i := range n {
		m := &etcdMember{
			name:    fmt.Sprintf("m%d", i),
			client:  fmt.Sprintf("%s://127.0.0.1:%d", scheme, stablePort(t, false)),
			peer:    fmt.Sprintf("http://127.0.0.1:%d", stablePort(t, false)),
			dataDir: filepath.Join(dir, fmt.Sprintf("m%d.etcd", i)),
			logFile: filepath.Join(dir, fmt.Sprintf("m%d.log", i)),
		}
		e.members = append(e.members, m)
		e.Endpoints = append(e.Endpoints, m.client)
		initial = append(initial, m.name+"="+m.peer)
	}
	e.cluster = strings.Join(initial, ",")
	for i := range e.members {
		e.run(t, i, "new")
	}
	t.Cleanup(func() {
		for _, m := range e.members {
			if m.proc != nil {
				m.proc.stop()
			}
			if t.Failed() {
				logTail(t, m.logFile)
			}
		}
	})
	for i := range e.members {
		e.waitHealthy(t, i)
	}
	return e
}

func (e *Etcd) run(t testing.TB, i int, state string) {
	t.Helper()
	m := e.members[i]
	args := []string{"--name", m.name, "--data-dir", m.dataDir,
		"--listen-client-urls", m.client, "--advertise-client-urls", m.client,
		"--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer,
		"--initial-cluster", e.cluster, "--initial-cluster-state", state,
		"--initial-cluster-token", e.token,
		"--heartbeat-interval", "50", "--election-timeout", "500",
		"--auto-compaction-mode", "periodic", "--auto-compaction-retention", "1h",
		"--logger", "zap", "--log-level", "warn"}
	if e.opts.ServerCert != "" {
		args = append(args, "--cert-file", e.opts.ServerCert, "--key-file", e.opts.ServerKey,
			"--trusted-ca-file", e.opts.ClientCA, "--client-cert-auth")
	}
	proc, err := start(m.logFile, os.Environ(), e.bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	m.proc = proc
}

// waitHealthy waits until member i answers /health with health true.
func (e *Etcd) waitHealthy(t testing.TB, i int) {
	t.Helper()
	m := e.members[i]
	c := &http.Client{Timeout: time.Second}
	if e.opts.ServerCert != "" {
		// Readiness only: whether the member answers, not who it is.
		cert, err := tls.LoadX509KeyPair(e.opts.ClientCert, e.opts.ClientKey)
		if err != nil {
			t.Fatal(err)
		}
		c.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}}}
	}
	err := waitFor(m.proc, func() error {
		resp, err := c.Get(m.client + "/health")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var b [256]byte
		n, _ := resp.Body.Read(b[:])
		if !strings.Contains(string(b[:n]), `"health":"true"`) {
			return fmt.Errorf("unhealthy: %s", b[:n])
		}
		return nil
	})
	if err != nil {
		logTail(t, m.logFile)
		t.Fatalf("etcd member %s: %v", m.name, err)
	}
}

// Kill kills member i with SIGKILL, as a crash.
func (e *Etcd) Kill(t testing.TB, i int) {
	t.Helper()
	m := e.members[i]
	if m.proc == nil {
		t.Fatalf("testpeer: etcd member %s is not running", m.name)
	}
	m.proc.cmd.Process.Signal(syscall.SIGKILL)
	<-m.proc.done
	m.proc = nil
}

// Restart starts a killed member again with its data and waits until the
// cluster reports it healthy (which needs a quorum).
func (e *Etcd) Restart(t testing.TB, i int) {
	t.Helper()
	e.run(t, i, "existing")
	e.waitHealthy(t, i)
}

// Running reports whether member i is running.
func (e *Etcd) Running(i int) bool { return e.members[i].proc != nil }
