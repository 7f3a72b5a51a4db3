// Command scanonly runs internal/scan the way `tlsgate scan` does, for
// bench/scan/run.sh on a tlsgate binary that does not have the scan
// command yet. It prints one line per target: target, grade, milliseconds.
package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tlsgate/tlsgate/internal/scan"
)

func main() {
	caFile := flag.String("ca", "", "trusted roots (PEM)")
	sni := flag.String("sni", "", "server name")
	httpPort := flag.Int("http-port", 0, "plain-HTTP port")
	file := flag.String("f", "", "targets file")
	n := flag.Int("concurrency", 8, "targets at once")
	flag.Parse()
	opts := scan.Options{ServerName: *sni, HTTPPort: *httpPort}
	if *caFile != "" {
		data, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		opts.Roots = x509.NewCertPool()
		opts.Roots.AppendCertsFromPEM(data)
	}
	targets := flag.Args()
	if *file != "" {
		f, err := os.Open(*file)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if t := strings.TrimSpace(sc.Text()); t != "" && !strings.HasPrefix(t, "#") {
				targets = append(targets, t)
			}
		}
		f.Close()
	}
	out := make([]string, len(targets))
	var failed atomic.Bool
	sem := make(chan struct{}, *n)
	var wg sync.WaitGroup
	for i, t := range targets {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r, err := scan.Scan(context.Background(), t, opts)
			if err != nil {
				out[i] = fmt.Sprintf("%s ERROR %v", t, err)
				failed.Store(true)
				return
			}
			out[i] = fmt.Sprintf("%s %s %dms", t, r.Grade.Letter, r.DurationMS)
		})
	}
	wg.Wait()
	fmt.Println(strings.Join(out, "\n"))
	if failed.Load() {
		os.Exit(2)
	}
}
