// Command h3load is the HTTP/3 load generator of bench/run.sh's h3
// scenario: Debian's h2load and curl are built without HTTP/3, so it uses
// quic-go's client (http3.Transport), the library the gateway serves
// with.
//
// It opens -c QUIC connections (one http3.Transport each) and keeps -m
// requests in flight on each (GET -url, response read to the end), like
// h2load -c C -m M, until -d has passed. Every response must be HTTP/3;
// anything else is an error.
//
// Output is one JSON object on stdout, in hsload's form so that run.sh
// parses both alike:
//
//	{"requests":N,"errors":N,"non2xx":N,"resumed":0,"seconds":S,"connections":C,"first_error":"..."}
//
// "requests" counts 2xx responses read in full over HTTP/3; "errors"
// everything else (non-2xx also in "non2xx"). Exit status 1 when nothing
// succeeded.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

func main() {
	url := flag.String("url", "", "URL to GET (https://HOST:PORT/PATH)")
	conns := flag.Int("c", 10, "QUIC connections")
	streams := flag.Int("m", 10, "requests in flight per connection")
	dur := flag.Duration("d", 10*time.Second, "how long to run")
	cacert := flag.String("cacert", "", "PEM file of the CA that signed the server's certificate")
	timeout := flag.Duration("timeout", 10*time.Second, "per-request timeout")
	flag.Parse()
	if *url == "" || *cacert == "" || *conns < 1 || *streams < 1 {
		fmt.Fprintln(os.Stderr, "usage: h3load -url https://127.0.0.1:PORT/ -cacert ca.pem [-c 10] [-m 10] [-d 10s]")
		os.Exit(2)
	}
	pem, err := os.ReadFile(*cacert)
	if err != nil {
		fmt.Fprintln(os.Stderr, "h3load:", err)
		os.Exit(2)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		fmt.Fprintln(os.Stderr, "h3load: no certificate in", *cacert)
		os.Exit(2)
	}

	var ok, failed, non2xx atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		failed.Add(1)
		firstErr.CompareAndSwap(nil, err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range *conns {
		tr := &http3.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots},
			QUICConfig:      &quic.Config{MaxIncomingStreams: int64(*streams)},
		}
		defer tr.Close()
		client := &http.Client{Transport: tr, Timeout: *timeout}
		for range *streams {
			wg.Go(func() {
				for ctx.Err() == nil {
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
					resp, err := client.Do(req)
					if err != nil {
						if ctx.Err() == nil {
							fail(err)
						}
						continue
					}
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					switch {
					case err != nil:
						if ctx.Err() == nil {
							fail(err)
						}
					case resp.ProtoMajor != 3:
						fail(fmt.Errorf("answered over %s, not HTTP/3", resp.Proto))
					case resp.StatusCode/100 != 2:
						non2xx.Add(1)
						fail(fmt.Errorf("status %d", resp.StatusCode))
					default:
						ok.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	out := map[string]any{
		"requests":    ok.Load(),
		"errors":      failed.Load(),
		"non2xx":      non2xx.Load(),
		"resumed":     0,
		"seconds":     time.Since(start).Seconds(),
		"connections": *conns,
	}
	if e := firstErr.Load(); e != nil {
		out["first_error"] = e
	}
	json.NewEncoder(os.Stdout).Encode(out)
	if ok.Load() == 0 {
		os.Exit(1)
	}
}
