// Command plainproxy is the baseline tlsgate is measured against: a plain
// httputil.ReverseProxy behind http.Server.ListenAndServeTLS, with every
// Go default. Only for bench/handshakes.sh.
//
//	plainproxy LISTEN_ADDR UPSTREAM_URL CERT_FILE KEY_FILE
package main

import (
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
)

func main() {
	if len(os.Args) != 5 {
		log.Fatal("usage: plainproxy LISTEN_ADDR UPSTREAM_URL CERT_FILE KEY_FILE")
	}
	u, err := url.Parse(os.Args[2])
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: os.Args[1], Handler: httputil.NewSingleHostReverseProxy(u)}
	log.Fatal(srv.ListenAndServeTLS(os.Args[3], os.Args[4]))
}
