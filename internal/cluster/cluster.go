// Package cluster lets a fleet of gateways share state through etcd: the
// storage of ACME accounts, certificates, challenge tokens and issuance
// locks (an implementation of storage.Storage), and the session-ticket keys
// (rotated by one elected node, applied by all). It is the only package
// that talks to etcd.
//
// Every value is encrypted with a key from a file (AES-256-GCM, the key's
// name bound as associated data), so etcd never holds a private key in
// clear. Every etcd call has a deadline: with quorum lost, calls fail
// after it instead of hanging, gateways keep serving what they have, and
// work that needs the store (new orders) is retried.
//
// It imports certs, config (the etcd settings), storage and tlspolicy (its
// TLS client config); it must not import server or plan, which open it.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/tlsgate/tlsgate/internal/certs"
	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/tlspolicy"
)

// opTimeout bounds every single etcd request. Longer than a leader
// election (about a second with etcd's defaults scaled for LANs), shorter
// than anything a handshake or an operator would wait for.
const opTimeout = 5 * time.Second

// reconnectMax bounds the wait between two connection attempts to an etcd
// endpoint that does not answer.
const reconnectMax = 2 * time.Second

// Cluster is a connection to the fleet's etcd.
type Cluster struct {
	cli    *clientv3.Client
	prefix string
	node   string
	sealer *sealer
	log    *slog.Logger
	cfg    config.Etcd
}

// Check reads every file c names (encryption key, TLS files, password)
// as Open does, without making a client: nothing is dialled and no
// credential is sent. `tlsgate config validate` checks with it.
func Check(c config.Etcd) error {
	_, _, err := prepare(c)
	return err
}

// Open connects to the etcd of c (no request is made yet) and reads the
// encryption key. node names this gateway.
func Open(c config.Etcd, node string, log *slog.Logger) (*Cluster, error) {
	ecfg, s, err := prepare(c)
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(ecfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to etcd %v: %w", c.Endpoints, err)
	}
	return &Cluster{cli: cli, prefix: c.Prefix, node: node, sealer: s, log: log, cfg: c}, nil
}

// prepare reads the files of c into the etcd client's config and the
// value sealer.
func prepare(c config.Etcd) (clientv3.Config, *sealer, error) {
	key, err := os.ReadFile(c.EncryptionKeyFile)
	if err != nil {
		return clientv3.Config{}, nil, fmt.Errorf("reading the storage encryption key: %w", err)
	}
	s, err := newSealer(key)
	if err != nil {
		return clientv3.Config{}, nil, fmt.Errorf("storage encryption key %s: %w", c.EncryptionKeyFile, err)
	}
	ecfg := clientv3.Config{
		Endpoints:            c.Endpoints,
		DialTimeout:          opTimeout,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		AutoSyncInterval:     time.Minute,
		// The etcd client logs with zap; its chatter (retries, balancer
		// changes) stays out of the gateway's log.
		Logger: zap.NewNop(),
		// gRPC waits up to 2 minutes between reconnections to an endpoint
		// that was down for long; etcd back, a gateway would stay cut off
		// from it meanwhile (no ticket keys, no new certificates).
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{BaseDelay: time.Second, Multiplier: 1.6, Jitter: 0.2, MaxDelay: reconnectMax}, MinConnectTimeout: opTimeout,
		})},
	}
	if c.TLS.CA != "" || c.TLS.Cert != "" {
		var u tlspolicy.Upstream
		if c.TLS.CA != "" {
			cas, err := certs.LoadCAs(c.TLS.CA)
			if err != nil {
				return clientv3.Config{}, nil, fmt.Errorf("etcd CA: %w", err)
			}
			u.Roots = certs.Pool(cas)
		}
		if c.TLS.Cert != "" {
			if u.Certificate, err = certs.LoadClient(c.TLS.Cert, c.TLS.Key); err != nil {
				return clientv3.Config{}, nil, fmt.Errorf("etcd client certificate: %w", err)
			}
		}
		ecfg.TLS = tlspolicy.UpstreamClient(u)
	}
	if c.Username != "" {
		pw, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return clientv3.Config{}, nil, fmt.Errorf("reading the etcd password: %w", err)
		}
		ecfg.Username, ecfg.Password = c.Username, strings.TrimSpace(string(pw))
	}
	return ecfg, s, nil
}

// Close releases the connection.
func (c *Cluster) Close() error { return c.cli.Close() }

// Node is this gateway's name in the cluster.
func (c *Cluster) Node() string { return c.node }

// Client is the etcd client, for tests and the status command.
func (c *Cluster) Client() *clientv3.Client { return c.cli }

// key maps a storage key to its etcd key.
func (c *Cluster) key(parts ...string) string { return c.prefix + strings.Join(parts, "/") }

// withDeadline bounds one etcd call.
func withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, opTimeout)
}

// retry runs an idempotent write up to 3 times: a write in flight when the
// leader dies fails, and the client does not retry writes itself.
func retry(ctx context.Context, f func(context.Context) error) error {
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			case <-time.After(time.Duration(attempt) * 300 * time.Millisecond):
			}
		}
		cctx, cancel := withDeadline(ctx)
		err = f(cctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
	}
	return err
}
