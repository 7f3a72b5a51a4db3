package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"syscall"
	"time"
)

// reachTimeout bounds the TCP dial that tells a member that is down from
// one that is slow before etcd is asked anything. A member that is up
// accepts within milliseconds on a LAN; without this, a fleet whose etcd
// is down took every request's 5 s deadline in turn (22 s for cluster
// status) and reported "context deadline exceeded" for what was a refused
// connection.
const reachTimeout = 1500 * time.Millisecond

// unreachable dials every endpoint at once, for at most reachTimeout, and
// returns why each one that did not accept a connection did not, keyed
// by endpoint.
func unreachable(ctx context.Context, endpoints []string) map[string]string {
	var mu sync.Mutex
	out := map[string]string{}
	var wg sync.WaitGroup
	for _, ep := range endpoints {
		wg.Go(func() {
			if err := dialOnce(ctx, ep); err != nil {
				mu.Lock()
				out[ep] = err.Error()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

// dialOnce opens and closes a TCP connection to an endpoint (a client URL
// such as https://10.0.0.1:2379, or HOST:PORT), and says in plain words
// why it could not.
func dialOnce(ctx context.Context, endpoint string) error {
	addr := hostPort(endpoint)
	d := net.Dialer{Timeout: reachTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		c.Close()
		return nil
	}
	var dns *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("connection refused by %s (is etcd running there?)", addr)
	case errors.As(err, &dns):
		return fmt.Errorf("%s does not resolve: %v", dns.Name, dns.Err)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return fmt.Errorf("no route to %s", addr)
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return fmt.Errorf("no answer from %s within %s (host down, or a firewall drops the connection)", addr, reachTimeout)
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// hostPort is the address an endpoint is dialled on; etcd's client port,
// 2379, when it names none.
func hostPort(endpoint string) string {
	host := endpoint
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		host = u.Host
	}
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(host, "2379")
	}
	return host
}
