package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
)

// What a client is answered when its request cannot be served: a status,
// a short JSON message and the request ID (writeError); the cause goes to
// the log with the same ID. failUpstream tells whose fault a failed
// upstream exchange was.

// writeError sends a short JSON error: API clients parse JSON, and the
// request ID lets an operator find the cause in the log.
//
// When r's body was not read to its end, an HTTP/1.1 answer closes the
// connection: net/http would otherwise read the rest of the body before
// sending the answer, with no deadline, so a client that stops sending
// mid-body (or never sends a body it announced, to a route that refuses
// it) would hold the connection and get no answer.
func writeError(w http.ResponseWriter, r *http.Request, status int, msg, id string) {
	h := w.Header()
	if r.ProtoMajor == 1 && r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody && !bodyFinished(r.Body) {
		h.Set("Connection", "close")
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":%q,"status":%d,"request_id":%q}`+"\n", msg, status, id)
}

// failUpstream answers a request whose upstream exchange failed: 502, 504
// on a timeout, or the client's fault when its body broke off.
func (s *Site) failUpstream(w http.ResponseWriter, r *http.Request, inf *info, err error) {
	s.setPolicyHeaders(w.Header(), inf.ids, r.TLS != nil) // cleared if a 1xx was passed on
	if berr := inf.bodyError(); berr != nil {
		// The client stopped sending its body (or hung up): its fault,
		// not the upstream's. 408 as nginx answers a client_body_timeout.
		// Checked first: net/http also cancels the request's context when
		// the body deadline passes, yet the client is still there.
		status, msg := http.StatusBadRequest, "the request body could not be read"
		if isTimeout(berr) {
			status, msg = http.StatusRequestTimeout, "the request body was not sent in time"
		}
		s.opts.Log.Info("client request body failed", "site", s.name, "path", inf.path, "request_id", inf.id, "status", status, "err", berr)
		writeError(w, r, status, msg, inf.id)
		return
	}
	if r.Context().Err() != nil {
		// The client is gone; nobody will read an answer. 499 as nginx logs it.
		w.WriteHeader(499)
		return
	}
	status, msg, kind := http.StatusBadGateway, "the upstream sent no valid answer", "other"
	switch {
	case isTimeout(err):
		status, msg, kind = http.StatusGatewayTimeout, "the upstream did not answer in time", "timeout"
	case connectFailed(err):
		msg, kind = "the upstream could not be reached", "connect"
	case headerTooBig(err):
		msg = "the upstream sent too big a header"
	case hungUp(err):
		msg = "the upstream closed the connection before answering"
	}
	if obs := s.opts.Observer; obs != nil {
		obs.UpstreamError(s.name, inf.route, kind)
	}
	s.opts.Log.Error("upstream error", "site", s.name, "path", inf.path, "upstream", inf.upstream,
		"request_id", inf.id, "status", status, "err", err)
	writeError(w, r, status, msg, inf.id)
}

// isTimeout reports whether err is a deadline or timeout, of a context or
// of a connection.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// isDialError reports whether err happened while connecting, before any
// byte of the request was written, so retrying elsewhere is safe for any
// method.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// connectFailed reports whether err means the upstream could not be
// connected to: the TCP connection, or the TLS handshake to an https
// upstream, failed. Only such upstreams leave rotation (README:
// Upstreams).
func connectFailed(err error) bool {
	if isDialError(err) {
		return true
	}
	var rh tls.RecordHeaderError
	var ae tls.AlertError
	var cv *tls.CertificateVerificationError
	return errors.As(err, &rh) || errors.As(err, &ae) || errors.As(err, &cv) || errors.Is(err, errNoUpstream)
}

// hungUp reports whether err is the upstream ending the connection
// before its answer: a reset, a broken pipe, or the end of the stream.
func hungUp(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// headerTooBig reports whether err is an upstream's over-long response
// head, from h1Transport or the fallback http.Transport (whose error has
// no type to test).
func headerTooBig(err error) bool {
	var e *headerTooBigError
	return errors.As(err, &e) || strings.Contains(err.Error(), "server response headers exceeded")
}

// errBadStatus: http.ReadResponse accepts any three digits ("HTTP/1.1
// 000"), which no client may be sent.
var errBadStatus = errors.New("the upstream answered with a status code below 100")

// errUnaskedUpgrade: the direct path never sends Upgrade, so a 101 answer
// there is an upstream's mistake.
var errUnaskedUpgrade = errors.New("the upstream switched protocols (101) without being asked to")
