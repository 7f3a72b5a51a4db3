package proxy

import (
	"io"
	"net/http"
	"time"
)

// deadlineBody pushes the connection's read deadline forward before each
// read of a request body, like nginx's client_body_timeout: an upload may
// take as long as it needs while it makes progress, but a client that
// stops sending is cut off.
type deadlineBody struct {
	io.ReadCloser
	rc  *http.ResponseController
	d   time.Duration
	eof bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if !b.eof {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.d)) // unsupported writers: no deadline, as before
	}
	n, err := b.ReadCloser.Read(p)
	if err != nil && !b.eof {
		b.eof = true
		// Clear the deadline: net/http keeps reading the connection in the
		// background to notice a client hang-up while the upstream works,
		// and that read must not time out.
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
