package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// The fleet benchmarks (bench/cluster/run.sh runs them with -benchtime 1x)
// use a tlsgate built without the race detector.

func benchBinary(b *testing.B) func() {
	b.Helper()
	path := filepath.Join(b.TempDir(), "tlsgate")
	if out, err := exec.Command("go", "build", "-o", path, ".").CombinedOutput(); err != nil {
		b.Fatalf("building tlsgate: %v\n%s", err, out)
	}
	saved := binary
	binary = path
	return func() { binary = saved }
}

// newBenchFleet starts etcd (3 members), Pebble and n gateways managing
// names; node 0 holds Pebble's challenge ports.
func newBenchFleet(b *testing.B, n int, names []string) *fleet {
	dir := b.TempDir()
	f := &fleet{t: b, dir: dir}
	f.etcd = testpeer.StartEtcd(b, filepath.Join(dir, "etcd"), 3)
	for i := range n {
		f.nodes = append(f.nodes, &fleetNode{name: fmt.Sprintf("n%d", i), https: testpeer.FreePort(b), http: testpeer.FreePort(b),
			config: filepath.Join(dir, fmt.Sprintf("n%d.yaml", i))})
	}
	f.pebble = testpeer.StartPebble(b, filepath.Join(dir, "pebble"), testpeer.PebbleOptions{HTTPPort: f.nodes[0].http, TLSPort: f.nodes[0].https})
	f.key = filepath.Join(dir, "storage.key")
	os.WriteFile(f.key, []byte(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))), 0o600)
	for _, node := range f.nodes {
		f.writeConfig(node, names...)
	}
	return f
}

// BenchmarkFleetIssuance: certificates per minute for 100 names, by one
// gateway and by a fleet of three sharing etcd.
func BenchmarkFleetIssuance(b *testing.B) {
	defer benchBinary(b)()
	count := 100
	if n, err := strconv.Atoi(os.Getenv("FLEET_NAMES")); err == nil {
		count = n
	}
	var names []string
	for i := range count {
		names = append(names, fmt.Sprintf("n%03d.example.com", i))
	}
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			for b.Loop() {
				f := newBenchFleet(b, n, names)
				start := time.Now()
				for _, node := range f.nodes {
					node.p = start0(b, node)
				}
				f.roots = f.pebble.IssuerRoots(b)
				// Done when every node serves every name.
				for _, node := range f.nodes {
					for _, name := range names {
						f.waitServed(node, name, time.Duration(count)*6*time.Second)
					}
				}
				d := time.Since(start)
				b.ReportMetric(float64(len(names))/d.Minutes(), "certs/min")
				b.ReportMetric(d.Seconds(), "s-total")
				// Every node also serves the fleet's three base names.
				b.ReportMetric(float64(f.orders()-len(names)-3), "extra-orders")
				for _, node := range f.nodes {
					node.p.cmd.Process.Kill()
				}
			}
		})
	}
}

func start0(b *testing.B, n *fleetNode) *proc { return start(b, nil, "serve", "--config", n.config) }

// BenchmarkHandshakeDuringEtcdLeaderLoss: full TLS handshakes against one
// node of a 3-node fleet for 12 s; the etcd leader is killed after 4 s.
// Reports p50/p99 before the kill and in the 8 s after it.
func BenchmarkHandshakeDuringEtcdLeaderLoss(b *testing.B) {
	defer benchBinary(b)()
	for b.Loop() {
		f := newBenchFleet(b, 3, nil)
		for _, node := range f.nodes {
			node.p = start0(b, node)
		}
		f.roots = f.pebble.IssuerRoots(b)
		for _, node := range f.nodes {
			f.waitServed(node, "fleet1.example.com", 2*time.Minute)
		}
		st := clusterStatus(b, f.nodes[0].config)
		leader := -1
		for _, m := range st.Members {
			if m.Leader {
				leader = slices.Index(f.etcd.Endpoints, m.Endpoint)
			}
		}
		addr := fmt.Sprintf("127.0.0.1:%d", f.nodes[1].https)
		var mu sync.Mutex
		var before, after []time.Duration
		var failed int
		var killedAt time.Time
		ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					t0 := time.Now()
					c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
						&tls.Config{ServerName: "fleet1.example.com", RootCAs: f.roots})
					d := time.Since(t0)
					mu.Lock()
					if err != nil {
						failed++
					} else if killedAt.IsZero() {
						before = append(before, d)
					} else {
						after = append(after, d)
					}
					mu.Unlock()
					if c != nil {
						c.Close()
					}
				}
			}()
		}
		time.Sleep(4 * time.Second)
		mu.Lock()
		killedAt = time.Now()
		mu.Unlock()
		f.etcd.Kill(b, leader)
		wg.Wait()
		cancel()
		pct := func(ds []time.Duration, p float64) float64 {
			if len(ds) == 0 {
				return 0
			}
			slices.Sort(ds)
			return float64(ds[int(float64(len(ds)-1)*p)].Microseconds()) / 1000
		}
		b.ReportMetric(pct(before, 0.5), "p50-ms-before")
		b.ReportMetric(pct(before, 0.99), "p99-ms-before")
		b.ReportMetric(pct(after, 0.5), "p50-ms-after-kill")
		b.ReportMetric(pct(after, 0.99), "p99-ms-after-kill")
		b.ReportMetric(float64(failed), "failed")
		b.ReportMetric(float64(len(before)+len(after)), "handshakes")
		for _, node := range f.nodes {
			node.p.cmd.Process.Kill()
		}
	}
}
