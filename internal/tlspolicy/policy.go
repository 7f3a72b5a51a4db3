// Package tlspolicy is the only place in tlsgate that builds a *tls.Config.
// It turns a named profile into protocol versions, cipher suites and ALPN,
// and keeps session-ticket keys in step across every config it built.
//
// It builds every tls.Config the gateway serves or dials with: the
// listener's, each site's, each upstream's, the etcd client's. The
// scanner and the probe, which must speak broken TLS on purpose, are the
// named exceptions; TestOnlyTLSPolicyBuildsConfigs (module root) holds
// the rest to it. It imports nothing of this module.
package tlspolicy

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"slices"
	"time"
)

// Profile names a set of TLS parameters.
type Profile string

const (
	// Intermediate is Mozilla's "intermediate" profile: TLS 1.2 and 1.3,
	// and in TLS 1.2 only ECDHE key exchange with AEAD ciphers. It is the
	// default: every client from the last decade connects, with forward
	// secrecy and authenticated encryption.
	Intermediate Profile = "intermediate"
	// Modern is TLS 1.3 only.
	Modern Profile = "modern"
)

// intermediateSuites is Mozilla's intermediate list (v5.7) minus the DHE
// suites Go does not implement. TLS 1.3 suites are not configurable in Go;
// all three are AEAD.
var intermediateSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// CipherSuites returns the TLS 1.2 suites a profile allows (nil for Modern).
func (p Profile) CipherSuites() []uint16 {
	if p == Modern {
		return nil
	}
	return append([]uint16(nil), intermediateSuites...)
}

// MinVersion returns the lowest protocol version a profile accepts.
func (p Profile) MinVersion() uint16 {
	if p == Modern {
		return tls.VersionTLS13
	}
	return tls.VersionTLS12
}

// ALPN returns the protocols offered to clients, in preference order: h2,
// then http/1.1. There is no h2c: HTTP/2 is only spoken inside TLS. Each
// call returns a new slice.
func ALPN() []string { return []string{"h2", "http/1.1"} }

// ticketStamp marks the issue time among a session's Extra entries.
const ticketStamp = "tlsgate-issued:"

func issuedAt(t time.Time) []byte {
	return binary.BigEndian.AppendUint64([]byte(ticketStamp), uint64(t.UnixNano()))
}

func ticketIssued(extra [][]byte) (time.Time, bool) {
	for _, e := range extra {
		if v, ok := bytes.CutPrefix(e, []byte(ticketStamp)); ok && len(v) == 8 {
			return time.Unix(0, int64(binary.BigEndian.Uint64(v))), true
		}
	}
	return time.Time{}, false
}

// WithoutALPN returns a copy of a server config that negotiates no
// application protocol, for clients that offer none of c's (see
// OffersNone). Its session tickets are c's once both are tracked under
// the same label.
func WithoutALPN(c *tls.Config) *tls.Config {
	n := c.Clone()
	n.NextProtos = nil
	return n
}

// OffersNone reports whether a client offered ALPN protocols and none of
// ours. crypto/tls then fails the handshake (no_application_protocol);
// nginx instead goes on without ALPN, and clients that offer "http/1.0"
// (curl --http1.0) or a protocol name of their own speak HTTP/1.x. The
// gateway does as nginx: such a handshake gets the config WithoutALPN,
// and net/http serves HTTP/1.x on it; h2 is negotiated as before for
// every client that offers it.
func OffersNone(ours, theirs []string) bool {
	if len(theirs) == 0 {
		return false
	}
	for _, p := range theirs {
		if slices.Contains(ours, p) {
			return false
		}
	}
	return true
}

// Listener returns the config of the HTTPS listener itself: it only picks
// a site's config (built by Server) per handshake. net/http enables
// HTTP/2 on a listener only when this outer config offers h2, so it
// carries the same ALPN list.
func Listener(configForClient func(*tls.ClientHelloInfo) (*tls.Config, error)) *tls.Config {
	return &tls.Config{GetConfigForClient: configForClient, NextProtos: ALPN()}
}

// ECHKeys returns the Encrypted Client Hello keys in use (package ech's
// Keys.ForHandshake): tls.Config.GetEncryptedClientHelloKeys.
type ECHKeys func(*tls.ClientHelloInfo) ([]tls.EncryptedClientHelloKey, error)

// WithECH returns a copy of the listener config c (see Listener) that
// decrypts Encrypted Client Hellos with keys. crypto/tls decrypts with
// the listener's keys before GetConfigForClient runs, so the site is
// chosen by the inner (real) server name, and its config (with its
// certificate, client-auth policy and ticket keys) serves the handshake
// as without ECH. A hello that does not decrypt (stale config, GREASE)
// goes on as the outer hello, whose server name is the public name; the
// site config then answering sends the retry configs, so site configs
// carry the same keys (Options.ECHKeys). An accepted ECH handshake is
// always TLS 1.3 (crypto/tls refuses 1.2 inside ECH), whatever the
// site's profile allows for other clients.
func WithECH(c *tls.Config, keys ECHKeys) *tls.Config {
	n := c.Clone()
	n.GetEncryptedClientHelloKeys = keys
	return n
}

// Options describe one server-side tls.Config.
type Options struct {
	// Profile selects versions and suites. Required.
	Profile Profile
	// GetCertificate returns the certificate for a handshake. Required.
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// NextProtos overrides the ALPN list; nil means h2 then http/1.1.
	NextProtos []string
	// ClientCAs, when set, makes the handshake ask for a client
	// certificate issued by one of them. It is not verified here but per
	// request (package mtls), so that public and mTLS routes can share a
	// host and a refusal can say why.
	ClientCAs *x509.CertPool
	// OnHandshake, when set, is called after every successful handshake,
	// resumed ones included (metrics).
	OnHandshake func(*tls.ConnectionState)
	// TicketLifetime, when set, is how long a session ticket resumes: an
	// older one gets a full handshake. The gateway sets it to its
	// ticket-key rotation period. crypto/tls itself accepts tickets for 7
	// days and advertises that lifetime in every ticket (a constant it
	// does not let a server change), so without this a ticket would
	// outlive the rotation that is meant to bound it.
	TicketLifetime time.Duration
	// ECHKeys, when set, are the listener's ECH keys (see WithECH): a
	// site config only uses them to send retry configs to a client whose
	// ECH config did not decrypt.
	ECHKeys ECHKeys
}

// Server returns a server tls.Config for o. Key-exchange groups are Go's
// defaults, kept deliberately: in TLS 1.3 the post-quantum hybrids
// X25519MLKEM768, SecP256r1MLKEM768 and SecP384r1MLKEM1024, then X25519,
// P-256, P-384 and P-521 (TLS 1.2: the last four). TestKeyExchangeGroups
// pins them, so a Go release that changes them is noticed.
func Server(o Options) (*tls.Config, error) {
	if o.Profile != Intermediate && o.Profile != Modern {
		return nil, fmt.Errorf("unknown TLS profile %q: use intermediate or modern", o.Profile)
	}
	if o.GetCertificate == nil {
		return nil, fmt.Errorf("TLS profile %s: no certificate source", o.Profile)
	}
	protos := o.NextProtos
	if protos == nil {
		protos = ALPN()
	}
	c := &tls.Config{
		MinVersion:     o.Profile.MinVersion(),
		MaxVersion:     tls.VersionTLS13,
		CipherSuites:   o.Profile.CipherSuites(),
		GetCertificate: o.GetCertificate,
		NextProtos:     append([]string(nil), protos...),
	}
	if life := o.TicketLifetime; life > 0 {
		// The issue time rides in the ticket (SessionState.Extra, which
		// crypto/tls encrypts with the rest and otherwise ignores).
		c.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
			ss.Extra = append(ss.Extra, issuedAt(time.Now()))
			return c.EncryptTicket(cs, ss)
		}
		c.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
			ss, err := c.DecryptTicket(identity, cs)
			if err != nil || ss == nil {
				return ss, err
			}
			if t, ok := ticketIssued(ss.Extra); !ok || time.Since(t) > life {
				return nil, nil // a full handshake
			}
			return ss, nil
		}
	}
	if o.ECHKeys != nil {
		c.GetEncryptedClientHelloKeys = o.ECHKeys
	}
	if o.ClientCAs != nil {
		c.ClientAuth = tls.RequestClientCert
		c.ClientCAs = o.ClientCAs
	}
	if f := o.OnHandshake; f != nil {
		// Called by crypto/tls for full and resumed handshakes alike; it
		// never refuses one.
		c.VerifyConnection = func(cs tls.ConnectionState) error { f(&cs); return nil }
	}
	return c, nil
}

// Reject returns a config that fails every handshake with an
// "unrecognized_name" alert: crypto/tls sends that alert when a config has
// no certificate at all. It is what clients asking for an unknown SNI get.
func Reject() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12}
}

// Client returns the config for connections to https upstreams: TLS 1.2 or
// later and full verification against roots (nil: the system roots). There
// is deliberately no way to turn verification off here.
func Client(roots *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: Intermediate.CipherSuites(), // a copy: callers may edit their config
		RootCAs:      roots,
	}
}

// Upstream describes the client side of a connection to an upstream.
type Upstream struct {
	// Roots verify the upstream's certificate; nil means the system roots.
	Roots *x509.CertPool
	// ServerName is sent as SNI and verified; empty means the URL's host.
	ServerName string
	// Certificate is presented when the upstream asks for one (mTLS).
	Certificate *tls.Certificate
	// GetClientCertificate, when set instead, supplies a certificate that
	// changes over time (renewed by the internal CA).
	GetClientCertificate func(*tls.CertificateRequestInfo) (*tls.Certificate, error)
	// InsecureSkipVerify turns verification off. Only a deliberate config
	// key sets it, and the server warns about it at every start.
	InsecureSkipVerify bool
}

// UpstreamClient returns the client config for u: TLS 1.2 or later with
// the intermediate suites, verification on unless u says otherwise.
func UpstreamClient(u Upstream) *tls.Config {
	c := Client(u.Roots)
	c.ServerName = u.ServerName
	c.InsecureSkipVerify = u.InsecureSkipVerify
	if u.Certificate != nil {
		cert := u.Certificate
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	if u.GetClientCertificate != nil {
		c.GetClientCertificate = u.GetClientCertificate
	}
	return c
}

// ALPNHTTP3 is the ALPN protocol of HTTP/3 (RFC 9114).
const ALPNHTTP3 = "h3"

// QUIC returns a site's server config for its HTTP/3 (QUIC) listener:
// Server(o) with TLS 1.3 only (RFC 9001 requires it) and "h3" as the
// only application protocol. It is built, not cloned from the TCP
// config, so that its session tickets are sealed with its own keys
// (WrapSession refers to the config it was built for): track it under
// its own ticket label and tickets never cross between TCP and QUIC.
// 0-RTT is not enabled here: it is the QUIC layer's setting
// (quic.Config.Allow0RTT), and the gateway leaves it off.
func QUIC(o Options) (*tls.Config, error) {
	o.NextProtos = []string{ALPNHTTP3}
	c, err := Server(o)
	if err != nil {
		return nil, err
	}
	c.MinVersion = tls.VersionTLS13
	c.CipherSuites = nil // TLS 1.3 suites are not configurable
	return c, nil
}

// QUICListener returns the config of the HTTP/3 listener itself: as
// Listener, it only picks a site's QUIC config per handshake.
func QUICListener(configForClient func(*tls.ClientHelloInfo) (*tls.Config, error)) *tls.Config {
	return &tls.Config{GetConfigForClient: configForClient, MinVersion: tls.VersionTLS13, NextProtos: []string{ALPNHTTP3}}
}
