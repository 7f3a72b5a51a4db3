package mtls

import (
	"context"
	"crypto/tls"
	"net"
	"testing"

	"github.com/tlsgate/tlsgate/internal/pkitest"
)

// TestForConn: the verification cache is held only by connections that
// can carry a client certificate (issue 17: an idle connection without
// one held 208 bytes for nothing).
func TestForConn(t *testing.T) {
	ca := pkitest.NewCA(t, "server CA")
	clientCA := pkitest.NewCA(t, "client CA")
	leaf := ca.Issue(t, pkitest.Leaf{Names: []string{"localhost"}})
	client := clientCA.Issue(t, pkitest.Leaf{Names: []string{"client"}, Client: true})

	// handshake returns the server side of a finished handshake, the
	// client presenting cert when it is not nil.
	handshake := func(t *testing.T, cert *tls.Certificate) *tls.Conn {
		t.Helper()
		cc, sc := net.Pipe()
		t.Cleanup(func() { cc.Close(); sc.Close() })
		srv := tls.Server(sc, &tls.Config{Certificates: []tls.Certificate{*leaf}, ClientAuth: tls.RequestClientCert})
		ccfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
		if cert != nil {
			ccfg.Certificates = []tls.Certificate{*cert}
		}
		cli := tls.Client(cc, ccfg)
		errc := make(chan error, 1)
		go func() { errc <- cli.Handshake() }()
		if err := srv.Handshake(); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		return srv
	}
	has := func(ctx context.Context) bool { return ctx.Value(connKey{}) != nil }
	ctx := context.Background()

	if has(ForConn(ctx, handshake(t, nil))) {
		t.Error("a connection without a client certificate holds a verification cache")
	}
	if !has(ForConn(ctx, handshake(t, client))) {
		t.Error("a connection with a client certificate has no verification cache")
	}
	cc, sc := net.Pipe()
	defer cc.Close()
	defer sc.Close()
	if !has(ForConn(ctx, tls.Server(sc, &tls.Config{}))) {
		t.Error("a connection before its handshake has no verification cache")
	}
	if !has(ForConn(ctx, sc)) {
		t.Error("a connection that is not TLS has no verification cache")
	}
}
