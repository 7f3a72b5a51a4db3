package probe

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/prometheus/client_golang/prometheus"
)

// probeTCPTLS is blackbox's tcp prober with tls: true and no
// query_response: connect, complete a TLS handshake, report it.
func (p *Prober) probeTCPTLS(ctx context.Context, target string, reg prometheus.Registerer) error {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return fmt.Errorf("target %q: want host:port: %w", target, err)
	}
	ip, _, err := resolve(ctx, host, reg)
	if err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip.String(), port))
	if err != nil {
		return err
	}
	defer conn.Close()
	// The context bounds the handshake too; the deadline is a second
	// guard for whatever reads or writes follow.
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	var h handshake
	tc := tls.Client(conn, p.tlsConfig(host, nil, &h))
	herr := tc.HandshakeContext(ctx)
	if state, chains := h.result(); state != nil {
		if herr == nil {
			final := tc.ConnectionState()
			state = &final
		}
		registerTLS(reg, state, chains)
	}
	if herr != nil {
		return fmt.Errorf("TLS handshake with %s: %w", target, herr)
	}
	return nil
}
