// Command backend is the plain-HTTP/1.1 origin server used by bench/run.sh.
//
// It is deliberately tiny and fast so that the proxies under test, not the
// backend, dominate the measured cost:
//
//	GET /     -> a ~64-byte JSON body
//	GET /16k  -> 16 KiB (16384 bytes) of ASCII
//	GET /headers -> the names of the request's header fields, sorted, one
//	               per line (run.sh checks that both proxies send the same
//	               fields upstream; not measured)
//
// Every other path returns 404. It uses only the standard library.
package main

import (
	"bytes"
	"flag"
	"io"
	"log"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on (loopback only)")
	flag.Parse()

	small := []byte(`{"ok":true,"service":"tlsgate-bench-backend","payload":"0123456"}` + "\n")
	big := bytes.Repeat([]byte("0123456789abcdef"), 16384/16) // exactly 16 KiB

	serve := func(body []byte, ctype string) http.HandlerFunc {
		clen := strconv.Itoa(len(body))
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
				return
			}
			// Drain any request body so the connection can be reused.
			_, _ = io.Copy(io.Discard, r.Body)
			h := w.Header()
			h["Content-Type"] = []string{ctype}
			h["Content-Length"] = []string{clen}
			w.WriteHeader(http.StatusOK)
			if r.Method == http.MethodGet {
				_, _ = w.Write(body)
			}
		}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", serve(small, "application/json"))
	mux.HandleFunc("/16k", serve(big, "application/octet-stream"))
	// The routes scenario (GitHub's OpenAPI operations) requests /repos/...
	mux.HandleFunc("/repos/", serve(small, "application/json"))
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		names := []string{"Host"} // net/http moves it out of r.Header
		for k := range r.Header {
			names = append(names, k)
		}
		slices.Sort(names)
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, strings.Join(names, "\n")+"\n")
	})

	srv := &http.Server{
		Addr:              *listen,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	log.Printf("backend listening on http://%s (/ = %d bytes, /16k = %d bytes)", *listen, len(small), len(big))
	log.Fatal(srv.ListenAndServe())
}
