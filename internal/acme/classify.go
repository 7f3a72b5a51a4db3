package acme

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"syscall"

	"github.com/mholt/acmez/v3/acme"
)

// Failure is the kind of failure an order ended in: what a person must
// look at, which the wrapped error text alone (certmagic, acmez, net)
// buries.
type Failure int

const (
	// FailureOther is none of the below: the CA's own error says why.
	FailureOther Failure = iota
	// FailureCADNS: the CA's host name does not resolve here.
	FailureCADNS
	// FailureCARefused: nothing accepts connections at the CA's address.
	FailureCARefused
	// FailureCATimeout: the CA did not answer in time.
	FailureCATimeout
	// FailureCATrust: the CA's TLS certificate is not trusted.
	FailureCATrust
	// FailureChallenge: the CA answered, but could not validate the name:
	// it did not reach this host's challenge ports, or got a wrong answer.
	FailureChallenge
	// FailureRateLimited: the CA refuses more orders for now.
	FailureRateLimited
)

// Classify says which kind of failure err, from Manager.Renew or an
// order, is. Certmagic does not always wrap its causes with %w, so the
// text is looked at too.
func Classify(err error) Failure {
	if err == nil {
		return FailureOther
	}
	// The CA's answer first: a challenge failure's detail may itself
	// mention DNS or a refused connection, on the CA's side.
	var p acme.Problem
	if errors.As(err, &p) {
		switch p.Type {
		case acme.ProblemTypeConnection, acme.ProblemTypeDNS, acme.ProblemTypeIncorrectResponse,
			acme.ProblemTypeTLS, acme.ProblemTypeUnauthorized, acme.ProblemTypeCAA:
			return FailureChallenge
		case acme.ProblemTypeRateLimited:
			return FailureRateLimited
		}
		return FailureOther
	}
	msg := err.Error()
	var dns *net.DNSError
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	switch {
	case strings.Contains(msg, "urn:ietf:params:acme:error:"):
		for _, t := range []string{"connection", "dns", "incorrectResponse", "tls", "unauthorized", "caa"} {
			if strings.Contains(msg, acme.ProblemTypeNamespace+t) {
				return FailureChallenge
			}
		}
		if strings.Contains(msg, acme.ProblemTypeRateLimited) {
			return FailureRateLimited
		}
		return FailureOther
	case errors.As(err, &dns), strings.Contains(msg, "no such host"), strings.Contains(msg, "server misbehaving"):
		return FailureCADNS
	case errors.Is(err, syscall.ECONNREFUSED), strings.Contains(msg, "connection refused"):
		return FailureCARefused
	case errors.As(err, &unknown), errors.As(err, &invalid), errors.As(err, &hostname),
		strings.Contains(msg, "certificate signed by unknown authority"), strings.Contains(msg, "x509: "):
		return FailureCATrust
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT), strings.Contains(msg, "i/o timeout"),
		strings.Contains(msg, "deadline exceeded"):
		return FailureCATimeout
	}
	return FailureOther
}
