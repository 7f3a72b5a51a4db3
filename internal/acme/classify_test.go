package acme

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/mholt/acmez/v3/acme"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	dns := &net.DNSError{Err: "no such host", Name: "ca.invalid", IsNotFound: true}
	for _, tc := range []struct {
		err  error
		want Failure
	}{
		{fmt.Errorf("renewing: %w", fmt.Errorf(`Get "https://ca.invalid/dir": %w`, dns)), FailureCADNS},
		// certmagic flattens with %v: the text still says it.
		{fmt.Errorf("[a.example.com] Renew: %v", fmt.Errorf("dial tcp: lookup ca.invalid on 127.0.0.53:53: %w", dns)), FailureCADNS},
		{fmt.Errorf("provisioning client: %w", refused), FailureCARefused},
		{errors.New(`Get "https://127.0.0.1:14000/dir": dial tcp 127.0.0.1:14000: connect: connection refused`), FailureCARefused},
		{fmt.Errorf("x: %w", x509.UnknownAuthorityError{}), FailureCATrust},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), FailureCATimeout},
		{fmt.Errorf("order: %w", acme.Problem{Type: acme.ProblemTypeConnection, Detail: "127.0.0.1: Connection refused"}), FailureChallenge},
		{fmt.Errorf("order: %w", acme.Problem{Type: acme.ProblemTypeDNS, Detail: "no such host"}), FailureChallenge},
		{fmt.Errorf("order: %v", acme.Problem{Type: acme.ProblemTypeUnauthorized, Detail: "wrong token"}), FailureChallenge},
		{fmt.Errorf("order: %w", acme.Problem{Type: acme.ProblemTypeRateLimited}), FailureRateLimited},
		{fmt.Errorf("order: %w", acme.Problem{Type: acme.ProblemTypeMalformed}), FailureOther},
		{errors.New("something else"), FailureOther},
	} {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
