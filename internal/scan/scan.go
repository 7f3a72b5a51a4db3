package scan

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Options configure a scan. The zero value scans with the system roots,
// 5 seconds per connection, at most 4 connections at a time, and no
// plain-HTTP redirect check.
type Options struct {
	// ServerName is sent as SNI and checked against the certificate.
	// Empty means the target's host.
	ServerName string
	// IP, when set, is the address connected to instead of resolving the
	// target's host (to scan one server behind a name).
	IP string
	// Roots are the trusted roots; nil means the system's.
	Roots *x509.CertPool
	// HTTPPort is the plain-HTTP port checked for a redirect to HTTPS
	// (`tlsgate scan` passes 80); 0 skips the check.
	HTTPPort int
	// Timeout bounds each connection, from dial to last read. Zero means
	// 5 seconds.
	Timeout time.Duration
	// Parallel is how many connections to the target may be open at once
	// (politeness). Zero means 4.
	Parallel int
	// NoFetchIssuer stops the scanner from downloading a missing
	// intermediate from the leaf's AIA "CA Issuers" URL to tell an
	// incomplete chain (grade B) from an untrusted one (grade T).
	NoFetchIssuer bool
	// Resolver looks up the target's host; nil means net.DefaultResolver.
	Resolver *net.Resolver
	// Dial opens connections (to the target, its HTTP port and AIA URLs);
	// nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now is the clock certificates are judged by; nil means time.Now.
	Now func() time.Time
	// LookupECH returns the ECHConfigList of the host's DNS HTTPS record
	// (nil when it has none); nil skips the ECH check. `tlsgate scan`
	// asks the system resolver or --dns-server.
	LookupECH func(ctx context.Context, host string) ([]byte, error)
	// ECHConfigList, when set, is the ECH config to try instead of the
	// one in DNS (`tlsgate scan --ech-config`, with what `tlsgate ech
	// show` prints): the check of a gateway before its record is
	// published. LookupECH is then not called.
	ECHConfigList []byte
}

// ConnErrorKind says why a target could not be scanned.
type ConnErrorKind string

const (
	ErrDNS       ConnErrorKind = "dns"       // the name does not resolve
	ErrRefused   ConnErrorKind = "refused"   // nothing listens on the port
	ErrTimeout   ConnErrorKind = "timeout"   // no answer in time
	ErrNotTLS    ConnErrorKind = "not_tls"   // something answered, not TLS
	ErrHandshake ConnErrorKind = "handshake" // TLS, but no protocol version was accepted
	ErrNetwork   ConnErrorKind = "network"   // any other network failure
)

// ConnError is returned by Scan when the target cannot be scanned at all.
type ConnError struct {
	Kind   ConnErrorKind
	Target string // as given
	Addr   string // ip:port, when resolved
	Err    error
}

func (e *ConnError) Error() string {
	where := e.Target
	if e.Addr != "" && !strings.Contains(e.Target, e.Addr) {
		where += " (" + e.Addr + ")"
	}
	switch e.Kind {
	case ErrDNS:
		return fmt.Sprintf("%s: cannot resolve the name: %v", where, e.Err)
	case ErrRefused:
		return fmt.Sprintf("%s: connection refused (nothing listens on that port)", where)
	case ErrTimeout:
		return fmt.Sprintf("%s: no answer in time (%v)", where, e.Err)
	case ErrNotTLS:
		return fmt.Sprintf("%s: the server does not speak TLS on that port", where)
	case ErrHandshake:
		return fmt.Sprintf("%s: the server refused every TLS and SSL version offered", where)
	}
	return fmt.Sprintf("%s: %v", where, e.Err)
}

func (e *ConnError) Unwrap() error { return e.Err }

// scanner holds the state of one scan.
type scanner struct {
	opts   Options
	target string
	host   string // server name
	addr   string // ip:port
	port   int
	ks     *keyShares
	sem    chan struct{}
	conns  atomic.Int32
	now    time.Time

	mu       sync.Mutex
	probeErr []string
}

// ParseTarget splits "host", "host:port", "[v6]:port" or an https:// URL
// into host and port (443 when absent).
func ParseTarget(target string) (host string, port int, err error) {
	t := strings.TrimSpace(target)
	if t == "" {
		return "", 0, errors.New("empty target")
	}
	if strings.Contains(t, "://") {
		u, err := url.Parse(t)
		if err != nil {
			return "", 0, fmt.Errorf("target %q: %w", target, err)
		}
		if u.Scheme != "https" {
			return "", 0, fmt.Errorf("target %q: only https:// URLs can be scanned", target)
		}
		t = u.Host
	}
	h, p, err := net.SplitHostPort(t)
	if err != nil {
		// No port, or a bare IPv6 address.
		if ip, perr := netip.ParseAddr(strings.Trim(t, "[]")); perr == nil {
			return ip.String(), 443, nil
		}
		if strings.Contains(t, ":") {
			return "", 0, fmt.Errorf("target %q: %v", target, err)
		}
		h, p = t, "443"
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("target %q: port %q is not a number from 1 to 65535", target, p)
	}
	if h == "" {
		return "", 0, fmt.Errorf("target %q: no host", target)
	}
	return strings.TrimSuffix(h, "."), port, nil
}

// Scan probes one TLS endpoint and grades it. It returns a *ConnError when
// the target cannot be scanned at all (name, connection, not TLS); problems
// of single probes are recorded in Result.ProbeErrors. Scan never prints
// and may be called concurrently.
func Scan(ctx context.Context, target string, opts Options) (*Result, error) {
	host, port, err := ParseTarget(target)
	if err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 4
	}
	if opts.Dial == nil {
		var d net.Dialer
		opts.Dial = d.DialContext
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &scanner{opts: opts, target: target, host: host, port: port, sem: make(chan struct{}, opts.Parallel), now: opts.Now()}
	if opts.ServerName != "" {
		s.host = opts.ServerName
	}
	started := time.Now()

	ip := opts.IP
	if ip == "" {
		if a, err := netip.ParseAddr(host); err == nil {
			ip = a.String()
		} else {
			rctx, cancel := context.WithTimeout(ctx, opts.Timeout)
			res := opts.Resolver
			if res == nil {
				res = net.DefaultResolver
			}
			addrs, err := res.LookupNetIP(rctx, "ip", host)
			cancel()
			if err != nil || len(addrs) == 0 {
				if err == nil {
					err = errors.New("no addresses")
				}
				return nil, &ConnError{Kind: ErrDNS, Target: target, Err: err}
			}
			// Prefer IPv4, as most scanners and clients do first.
			slices.SortStableFunc(addrs, func(a, b netip.Addr) int {
				if a.Is4() == b.Is4() {
					return 0
				}
				if a.Is4() {
					return -1
				}
				return 1
			})
			ip = addrs[0].Unmap().String()
		}
	}
	s.addr = net.JoinHostPort(ip, strconv.Itoa(port))

	// One plain connection first, to tell "refused" and "timeout" apart
	// from TLS problems quickly.
	_, release, err := s.dial(ctx)
	if err != nil {
		return nil, s.connError(err)
	}
	release()

	if s.ks, err = newKeyShares(); err != nil {
		return nil, err
	}
	f, err := s.probe(ctx)
	if err != nil {
		return nil, err
	}
	r := s.result(ctx, f)
	r.Started = started
	r.DurationMS = time.Since(started).Milliseconds()
	r.Connections = int(s.conns.Load())
	return r, nil
}

func (s *scanner) connError(err error) *ConnError {
	ce := &ConnError{Target: s.target, Addr: s.addr, Err: err, Kind: ErrNetwork}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		ce.Kind = ErrRefused
	case isTimeout(err) || errors.Is(err, context.DeadlineExceeded):
		ce.Kind = ErrTimeout
	case errors.Is(err, errNotTLS):
		ce.Kind = ErrNotTLS
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		ce.Kind = ErrDNS
	}
	return ce
}

// probeError records a failed probe; the scan goes on without its answer.
func (s *scanner) probeError(what string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.probeErr = append(s.probeErr, fmt.Sprintf("%s: %v", what, err))
}
