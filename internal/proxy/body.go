package proxy

import (
	"io"
	"net/http"
	"time"
)

// deadlineBody pushes the connection's read deadline forward before each
// read of a request body, like nginx's client_body_timeout: an upload may
// take as long as it needs while it makes progress, but a client that
// stops sending is cut off. A zero d sets no deadline.
//
// It also records in inf when reading failed for another reason than the
// end of the body, so that the failure is not blamed on the upstream.
type deadlineBody struct {
	io.ReadCloser
	rc  *http.ResponseController
	d   time.Duration
	inf *info
	eof bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if !b.eof && b.d > 0 {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.d)) // unsupported writers: no deadline, as before
	}
	n, err := b.ReadCloser.Read(p)
	if err != nil && !b.eof {
		b.eof = true
		if err != io.EOF {
			b.inf.bodyErr.Store(&err)
		}
		if b.d <= 0 {
			return n, err
		}
		// Clear the deadline: net/http keeps reading the connection in the
		// background to notice a client hang-up while the upstream works,
		// and that read must not time out.
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// bodyFinished reports whether body, a request body, was read to its end
// without an error.
func bodyFinished(body io.ReadCloser) bool {
	b, ok := body.(*deadlineBody)
	return ok && b.eof && b.inf.bodyError() == nil
}
