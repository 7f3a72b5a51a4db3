package probe

import (
	"context"
	"fmt"
	"hash/fnv"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// resolve looks host up, preferring IPv4 and falling back to IPv6, and
// reports probe_dns_lookup_time_seconds, probe_ip_protocol and
// probe_ip_addr_hash as blackbox's chooseProtocol does. It returns the
// address and the lookup time in seconds.
func resolve(ctx context.Context, host string, reg prometheus.Registerer) (net.IP, float64, error) {
	lookupTime := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "probe_dns_lookup_time_seconds",
		Help: "Returns the time taken for probe dns lookup in seconds",
	})
	protocol := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "probe_ip_protocol",
		Help: "Specifies whether probe ip protocol is IP4 or IP6",
	})
	addrHash := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "probe_ip_addr_hash",
		Help: "Specifies the hash of IP address. It's useful to detect if the IP address changes.",
	})
	reg.MustRegister(protocol, lookupTime, addrHash)

	start := time.Now()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	seconds := time.Since(start).Seconds()
	lookupTime.Set(seconds)
	if err != nil {
		return nil, seconds, fmt.Errorf("resolving %s: %w", host, err)
	}
	ip := pickIP(addrs)
	if ip == nil {
		return nil, seconds, fmt.Errorf("resolving %s: no address", host)
	}
	if ip.To4() != nil {
		protocol.Set(4)
	} else {
		protocol.Set(6)
	}
	addrHash.Set(ipHash(ip))
	return ip, seconds, nil
}

// pickIP returns the first IPv4 address, else the first IPv6 one, else nil.
func pickIP(addrs []net.IPAddr) net.IP {
	for _, a := range addrs {
		if a.IP.To4() != nil {
			return a.IP
		}
	}
	if len(addrs) > 0 {
		return addrs[0].IP
	}
	return nil
}

// ipHash is blackbox's: FNV-1a of the 4- or 16-byte address.
func ipHash(ip net.IP) float64 {
	h := fnv.New32a()
	if v4 := ip.To4(); v4 != nil {
		h.Write(v4)
	} else {
		h.Write(ip.To16())
	}
	return float64(h.Sum32())
}

// lookup resolves host for a later hop (a redirect to another host),
// returning an address and the lookup time.
func lookup(ctx context.Context, host string) (net.IP, time.Duration, error) {
	start := time.Now()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	took := time.Since(start)
	if err != nil {
		return nil, took, fmt.Errorf("resolving %s: %w", host, err)
	}
	ip := pickIP(addrs)
	if ip == nil {
		return nil, took, fmt.Errorf("resolving %s: no address", host)
	}
	return ip, took, nil
}
