package probe

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tlsgate/tlsgate/internal/scan"
)

// allCipherSuites is every suite Go implements, insecure ones included:
// the probe must complete a handshake with a weak endpoint to report what
// it negotiates.
var allCipherSuites = scan.GoSuites()

// handshake records what one TLS handshake showed while it ran, so that a
// handshake that fails verification still tells which chain, version and
// cipher the server chose. Its methods are safe for concurrent use.
type handshake struct {
	mu     sync.Mutex
	state  *tls.ConnectionState  // at certificate verification; nil before
	chains [][]*x509.Certificate // verified chains; nil if none verified
}

func (h *handshake) record(cs tls.ConnectionState, chains [][]*x509.Certificate) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.state, h.chains = &cs, chains
}

// result returns the recorded state (nil if the server presented no
// certificate) and verified chains.
func (h *handshake) result() (*tls.ConnectionState, [][]*x509.Certificate) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state, h.chains
}

// tlsConfig returns the client configuration for one connection to
// serverName, recording into h.
func (p *Prober) tlsConfig(serverName string, nextProtos []string, h *handshake) *tls.Config {
	return &tls.Config{
		ServerName: serverName,
		NextProtos: nextProtos,
		// TLS 1.0 and 1.1 are offered so that an old endpoint is reported
		// as such (and alerted on) instead of failing like an outage.
		MinVersion:   tls.VersionTLS10,
		CipherSuites: allCipherSuites,
		// The chain is verified in VerifyConnection rather than by
		// crypto/tls, with the same options, so that it is recorded even
		// when it does not verify. An error there aborts the handshake
		// exactly as crypto/tls's own verification would.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			chains, err := p.verify(cs, serverName)
			h.record(cs, chains)
			if err != nil && !p.insecure {
				return err
			}
			return nil
		},
	}
}

// verify checks the presented chain as crypto/tls does for a client.
func (p *Prober) verify(cs tls.ConnectionState, serverName string) ([][]*x509.Certificate, error) {
	if len(cs.PeerCertificates) == 0 {
		return nil, errors.New("tls: the server presented no certificate")
	}
	opts := x509.VerifyOptions{
		Roots:         p.roots,
		DNSName:       serverName,
		Intermediates: x509.NewCertPool(),
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	chains, err := cs.PeerCertificates[0].Verify(opts)
	if err != nil {
		return nil, &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
	}
	return chains, nil
}

// registerTLS reports a handshake's metrics as blackbox does for a TLS
// connection: probe_ssl_earliest_cert_expiry, probe_ssl_last_chain_info,
// probe_tls_version_info, probe_tls_cipher_info and, when a chain
// verified, probe_ssl_last_chain_expiry_timestamp_seconds.
func registerTLS(reg prometheus.Registerer, state *tls.ConnectionState, chains [][]*x509.Certificate) {
	// Help texts are blackbox's, word for word (including its confusing
	// one for probe_ssl_earliest_cert_expiry), so that the two
	// exporters' output is interchangeable.
	earliest := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "probe_ssl_earliest_cert_expiry",
		Help: "Returns last SSL chain expiry in unixtime",
	})
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "probe_ssl_last_chain_info",
		Help: "Contains SSL leaf certificate information",
	}, []string{"fingerprint_sha256", "subject", "issuer", "subjectalternative", "serialnumber"})
	version := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "probe_tls_version_info",
		Help: "Returns the TLS version used or NaN when unknown",
	}, []string{"version"})
	cipher := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "probe_tls_cipher_info",
		Help: "Returns the TLS cipher negotiated during handshake",
	}, []string{"cipher"})
	reg.MustRegister(earliest, version, cipher, info)

	earliest.Set(float64(earliestExpiry(state.PeerCertificates).Unix()))
	version.WithLabelValues(versionName(state.Version)).Set(1)
	// The table's name is crypto/tls's, as blackbox prints it, for every
	// suite the probe can negotiate.
	cipher.WithLabelValues(scan.LookupSuite(state.CipherSuite).Name).Set(1)
	if len(state.PeerCertificates) > 0 {
		leaf := state.PeerCertificates[0]
		sum := sha256.Sum256(leaf.Raw)
		info.WithLabelValues(
			hex.EncodeToString(sum[:]),
			leaf.Subject.String(),
			leaf.Issuer.String(),
			strings.Join(leaf.DNSNames, ","),
			fmt.Sprintf("%x", leaf.SerialNumber.Bytes()),
		).Set(1)
	}
	if len(chains) > 0 {
		lastChain := prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "probe_ssl_last_chain_expiry_timestamp_seconds",
			Help: "Returns last SSL chain expiry in timestamp",
		})
		reg.MustRegister(lastChain)
		lastChain.Set(float64(lastChainExpiry(chains).Unix()))
	}
}

// earliestExpiry is the earliest NotAfter of the presented certificates.
func earliestExpiry(certs []*x509.Certificate) time.Time {
	var earliest time.Time
	for _, c := range certs {
		if earliest.IsZero() || c.NotAfter.Before(earliest) {
			earliest = c.NotAfter
		}
	}
	return earliest
}

// lastChainExpiry is when the last of the verified chains stops being
// valid: each chain expires with its earliest certificate, and the
// connection stays verifiable while any chain does.
func lastChainExpiry(chains [][]*x509.Certificate) time.Time {
	var last time.Time
	for _, chain := range chains {
		if end := earliestExpiry(chain); last.IsZero() || end.After(last) {
			last = end
		}
	}
	return last
}

// versionName is blackbox's label value for a TLS version: the scanner's
// name, and "unknown" for anything but TLS 1.0 to 1.3.
func versionName(v uint16) string {
	if v < tls.VersionTLS10 || v > tls.VersionTLS13 {
		return "unknown"
	}
	return scan.VersionName(v)
}
