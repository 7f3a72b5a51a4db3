package server

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/tlsgate/tlsgate/internal/ech"
)

// echH3Get makes one HTTP/3 request for https://host/path to the ECH
// fixture's UDP address with cfg (RootCAs filled in), reporting the
// connection's TLS state.
func (f *echFixture) h3Get(t *testing.T, cfg *tls.Config, host, reqHost, path string) (*echResult, error) {
	t.Helper()
	cfg = cfg.Clone()
	cfg.RootCAs = f.ca.Pool()
	udp := f.g.udp(t)
	var cs tls.ConnectionState
	tr := &http3.Transport{
		TLSClientConfig: cfg,
		QUICConfig:      &quic.Config{HandshakeIdleTimeout: 5 * time.Second},
		Dial: func(ctx context.Context, _ string, tlsCfg *tls.Config, qc *quic.Config) (*quic.Conn, error) {
			tlsCfg.ServerName = host
			c, err := quic.DialAddr(ctx, udp, tlsCfg, qc)
			if err == nil {
				cs = c.ConnectionState().TLS
			}
			return c, err
		},
	}
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+reqHost+path, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return &echResult{status: resp.StatusCode, body: string(body), cs: cs}, nil
}

// TestReviewHTTP3ECH: ECH works over HTTP/3 as over TCP: a client
// holding the published config has its hello accepted on the QUIC
// listener, the inner name picks the site (certificate, upstream,
// client-auth policy), and the public name cannot reach the inner site's
// routes. Before the fix the QUIC listener had no ECH keys: every ECH
// hello was refused with retry configs that could never be accepted, so
// ECH clients could not use HTTP/3 at all.
func TestReviewHTTP3ECH(t *testing.T) {
	f := newECHFixture(t, `ech: {public_name: public.example.test}`)
	list := f.g.srv.ECHConfigList()
	r, err := f.h3Get(t, &tls.Config{EncryptedClientHelloConfigList: list}, "api.example.test", "api.example.test", "/")
	if err != nil {
		var rej *tls.ECHRejectionError
		if errors.As(err, &rej) {
			t.Fatalf("HTTP/3 refused the published ECH config (retry configs %d bytes, same as published: %v)", len(rej.RetryConfigList), string(rej.RetryConfigList) == string(list))
		}
		t.Fatal(err)
	}
	if !r.cs.ECHAccepted {
		t.Fatal("ECH not accepted over HTTP/3")
	}
	if names := r.cs.PeerCertificates[0].DNSNames; !slices.Equal(names, []string{"api.example.test"}) {
		t.Errorf("certificate for %v, want the inner site's", names)
	}
	if r.status != 200 || !strings.Contains(r.body, "backend=api") {
		t.Errorf("got %d %q, want the api site's upstream", r.status, r.body)
	}
	// Client auth of the inner site holds over ECH and QUIC.
	r, err = f.h3Get(t, &tls.Config{EncryptedClientHelloConfigList: list}, "api.example.test", "api.example.test", "/secure/x")
	if err != nil {
		t.Fatal(err)
	}
	if !r.cs.ECHAccepted || r.status != http.StatusForbidden {
		t.Errorf("no client certificate over ECH+HTTP/3: accepted %v, %d %q; want 403", r.cs.ECHAccepted, r.status, r.body)
	}
	with := &tls.Config{EncryptedClientHelloConfigList: list, Certificates: []tls.Certificate{*f.client}}
	if r, err = f.h3Get(t, with, "api.example.test", "api.example.test", "/secure/x"); err != nil || r.status != 200 {
		t.Errorf("client certificate over ECH+HTTP/3: %v %+v", err, r)
	}
	// An ECH connection to the public name cannot be used for the api
	// site (its :authority is refused).
	if r, err = f.h3Get(t, &tls.Config{EncryptedClientHelloConfigList: list}, "public.example.test", "api.example.test", "/secure/x"); err != nil || r.status != http.StatusMisdirectedRequest {
		t.Errorf("public-name connection asking for the api site: %v %+v; want 421", err, r)
	}
	// A config the gateway does not hold is refused with the current one,
	// which then works (the public site's config answers the outer hello).
	_, err = f.h3Get(t, &tls.Config{EncryptedClientHelloConfigList: staleECHList(t)}, "api.example.test", "api.example.test", "/")
	var rej *tls.ECHRejectionError
	if !errors.As(err, &rej) || string(rej.RetryConfigList) != string(list) {
		t.Fatalf("stale config over HTTP/3: %v; want a rejection with the current config", err)
	}
}

// staleECHList is an ECH config of a key the gateway never held.
func staleECHList(t *testing.T) []byte {
	t.Helper()
	r, _, err := ech.Ring{}.Update(ech.Settings{PublicName: "public.example.test", Rotate: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return r.PublishedList()
}
