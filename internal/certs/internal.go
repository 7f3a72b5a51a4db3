package certs

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tlsgate/tlsgate/internal/ca"
)

// InternalValidity is the lifetime of certificates the internal CA issues
// for sites. A week keeps a leaked development key short-lived while
// surviving a laptop that sleeps over a weekend; renewal is automatic.
const InternalValidity = 7 * 24 * time.Hour

// Internal serves a certificate issued by the internal CA for a site's
// hosts and renews it when two thirds of its life have passed.
type Internal struct {
	auth  *ca.Authority
	hosts []string
	leaf  ca.Leaf // what to issue each time
	log   *slog.Logger

	cur atomic.Pointer[tls.Certificate]

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
	// wake prods the renewer: timers do not advance while a machine
	// sleeps, so handshakes also compare the wall clock with the renewal
	// time and wake the renewer if it is overdue.
	wake    chan struct{}
	issueMu sync.Mutex // serialises issuing
}

// NewInternal issues a certificate for hosts and starts renewing it.
func NewInternal(auth *ca.Authority, hosts []string, log *slog.Logger) (*Internal, error) {
	return newInternal(auth, ca.Leaf{Names: hosts, Validity: InternalValidity}, log)
}

// InternalClientValidity is the lifetime of the client certificates the
// gateway presents to upstreams: a day, renewed after 16 hours, so a
// leaked one is useless by tomorrow.
const InternalClientValidity = 24 * time.Hour

// NewInternalClient issues a client certificate named name for the gateway
// to present to upstreams (mutual TLS) and keeps it renewed.
func NewInternalClient(auth *ca.Authority, name string, log *slog.Logger) (*Internal, error) {
	return newInternal(auth, ca.Leaf{Names: []string{name}, Validity: InternalClientValidity, Client: true}, log)
}

func newInternal(auth *ca.Authority, leaf ca.Leaf, log *slog.Logger) (*Internal, error) {
	s := &Internal{auth: auth, hosts: leaf.Names, leaf: leaf, log: log, stop: make(chan struct{}), done: make(chan struct{}), wake: make(chan struct{}, 1)}
	cert, err := auth.Issue(leaf)
	if err != nil {
		return nil, fmt.Errorf("issuing internal certificate: %w", err)
	}
	s.cur.Store(cert)
	go s.renew()
	return s, nil
}

// GetClientCertificate is the tls.Config hook for presenting the current
// certificate as a client (see NewInternalClient).
func (s *Internal) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return s.GetCertificate(nil)
}

func (s *Internal) renew() {
	defer close(s.done)
	for {
		leaf := s.cur.Load().Leaf
		life := leaf.NotAfter.Sub(leaf.NotBefore)
		wait := time.Until(leaf.NotBefore.Add(life * 2 / 3))
		select {
		case <-s.stop:
			return
		case <-time.After(max(wait, time.Minute)):
		case <-s.wake:
			if !s.due(time.Now()) {
				continue
			}
		}
		cert, err := s.issue()
		if err != nil {
			s.log.Error("renewing internal certificate failed, retrying in 10m", "hosts", s.hosts, "err", err)
			select {
			case <-s.stop:
				return
			case <-time.After(10 * time.Minute):
			}
			continue
		}
		s.log.Info("internal certificate renewed", "hosts", s.hosts, "not_after", cert.Leaf.NotAfter)
	}
}

// due reports whether two thirds of the current certificate's life have
// passed at now.
func (s *Internal) due(now time.Time) bool {
	leaf := s.cur.Load().Leaf
	return now.After(leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) * 2 / 3))
}

// issue makes a new certificate and makes it current.
func (s *Internal) issue() (*tls.Certificate, error) {
	s.issueMu.Lock()
	defer s.issueMu.Unlock()
	cert, err := s.auth.Issue(s.leaf)
	if err != nil {
		return nil, err
	}
	s.cur.Store(cert)
	return cert, nil
}

// GetCertificate implements Source. An expired certificate (the machine
// slept past its end) is replaced before the handshake goes on.
func (s *Internal) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	cert := s.cur.Load()
	now := time.Now()
	if now.After(cert.Leaf.NotAfter) {
		s.issueMu.Lock()
		cert = s.cur.Load()
		s.issueMu.Unlock()
		if now.After(cert.Leaf.NotAfter) {
			if fresh, err := s.issue(); err == nil {
				return fresh, nil
			}
		}
		return cert, nil
	}
	if s.due(now) {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return cert, nil
}

// Leaf implements Source.
func (s *Internal) Leaf() *x509.Certificate { return s.cur.Load().Leaf }

// Close implements Source.
func (s *Internal) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
	return nil
}
