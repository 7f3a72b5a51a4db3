package scan

import (
	"context"
	"errors"
	"net"
	"os"
	"time"
)

// dial opens one connection to the target, waiting for a free slot of
// the per-target connection limit; release frees the slot and closes the
// connection.
func (s *scanner) dial(ctx context.Context) (net.Conn, func(), error) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	dctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	c, err := s.opts.Dial(dctx, "tcp", s.addr)
	if err != nil {
		<-s.sem
		return nil, nil, err
	}
	s.conns.Add(1)
	deadline := time.Now().Add(s.opts.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.SetDeadline(deadline)
	return c, func() { c.Close(); <-s.sem }, nil
}

// exchange sends payload (a ClientHello) on a new connection and reads
// the server's answer: see parseResponse. A server that closes the
// connection or stays silent gives an empty response, not an error; errors
// are failures to connect and answers that are not TLS.
func (s *scanner) exchange(ctx context.Context, payload []byte) (*serverResponse, error) {
	c, release, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return s.roundTrip(c, payload)
}

func (s *scanner) roundTrip(c net.Conn, payload []byte) (*serverResponse, error) {
	if _, err := c.Write(payload); err != nil {
		return &serverResponse{Alert: -1}, nil
	}
	buf := make([]byte, 0, 8192)
	tmp := make([]byte, 16384)
	for {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		resp, complete, perr := parseResponse(buf)
		if perr != nil {
			if errors.Is(perr, errNotTLS) {
				return nil, perr
			}
			// A malformed answer: as good as a refusal.
			return &serverResponse{Alert: -1}, nil
		}
		if complete {
			return resp, nil
		}
		if err != nil && len(buf) == 0 && isTimeout(err) {
			return nil, errSilent
		}
		if err != nil || len(buf) > maxResponse {
			if resp == nil {
				resp = &serverResponse{Alert: -1}
			}
			return resp, nil
		}
	}
}

// errSilent says the server accepted the connection and said nothing
// within the timeout.
var errSilent = &silentError{}

type silentError struct{}

func (*silentError) Error() string   { return "the server accepted the connection but did not answer" }
func (*silentError) Timeout() bool   { return true }
func (*silentError) Temporary() bool { return true }

// isTimeout reports a deadline that passed.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
