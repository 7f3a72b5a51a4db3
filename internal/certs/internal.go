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
	log   *slog.Logger

	cur atomic.Pointer[tls.Certificate]

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// NewInternal issues a certificate for hosts and starts renewing it.
func NewInternal(auth *ca.Authority, hosts []string, log *slog.Logger) (*Internal, error) {
	s := &Internal{auth: auth, hosts: hosts, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	cert, err := auth.Issue(ca.Leaf{Names: hosts, Validity: InternalValidity})
	if err != nil {
		return nil, fmt.Errorf("issuing internal certificate: %w", err)
	}
	s.cur.Store(cert)
	go s.renew()
	return s, nil
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
		}
		cert, err := s.auth.Issue(ca.Leaf{Names: s.hosts, Validity: InternalValidity})
		if err != nil {
			s.log.Error("renewing internal certificate failed, retrying in 10m", "hosts", s.hosts, "err", err)
			select {
			case <-s.stop:
				return
			case <-time.After(10 * time.Minute):
			}
			continue
		}
		s.cur.Store(cert)
		s.log.Info("internal certificate renewed", "hosts", s.hosts, "not_after", cert.Leaf.NotAfter)
	}
}

// GetCertificate implements Source.
func (s *Internal) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.cur.Load(), nil
}

// Leaf implements Source.
func (s *Internal) Leaf() *x509.Certificate { return s.cur.Load().Leaf }

// Close implements Source.
func (s *Internal) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
	return nil
}
