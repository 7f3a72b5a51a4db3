package h1

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// The idle wait. A goroutine blocked in tls.Conn.Read holds the frames of
// crypto/tls's record layer (readRecordOrCCS alone is 472 bytes) on top of
// the poller's, too many for the runtime to shrink the 8 KiB stack the
// handshake grew: it shrinks a parked goroutine's stack by half at a
// collection only when less than a quarter of it is in use.
//
// So a connection waits for its next request in tls.Conn.Read for
// parkAfter at most (a busy client's next request comes sooner, and costs
// nothing more than before), and once it has idled that long, on the
// socket itself, with a peek that reads nothing; it calls tls.Conn.Read
// again once a byte, the end of the connection or an error is there. Its
// stack then shrinks to 4 KiB at the next collection (issue 17: 4 KiB of
// an idle HTTP/1.1 connection's 17 kB). The bytes read, and what is
// written, do not change.
//
// tls.Conn.Read that fails with a timeout leaves the connection usable:
// crypto/tls keeps a partial record and makes only errors that are not
// temporary sticky. It fails that way only when it holds no whole record,
// so after it the next byte can only come from the socket.

// defaultParkAfter is how long an idle connection waits in tls.Conn.Read
// before it waits on its socket.
const defaultParkAfter = time.Second

// initIdleWait sets c.rc when raw is a socket.
func (c *conn) initIdleWait() {
	if !peekSupported {
		return
	}
	sc, ok := c.raw.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	c.rc = rc
	c.readableFn = c.readable
}

// waitFirstByte waits, holding no buffer, for the first byte of the next
// request until the read deadline dl (zero: none), and keeps it in c.pre.
// It reports the read deadline it left set: dl, or an earlier one when the
// byte came before parkAfter.
func (c *conn) waitFirstByte(dl time.Time) (time.Time, bool) {
	until, park := dl, false
	if c.rc != nil {
		after := c.srv.parkAfter
		if after <= 0 {
			after = defaultParkAfter
		}
		if t := time.Now().Add(after); dl.IsZero() || t.Before(dl) {
			until, park = t, true
		}
	}
	c.tc.SetReadDeadline(until)
	n, err := c.tc.Read(c.pre.b[:])
	if n == 0 && park && errors.Is(err, os.ErrDeadlineExceeded) {
		if !c.waitSocket(dl) {
			return dl, false
		}
		until = dl
		n, _ = c.tc.Read(c.pre.b[:])
	}
	if n == 0 {
		return until, false
	}
	c.pre.pending = true
	return until, true
}

// waitSocket waits until the socket has a byte, the end of the
// connection or an error to read, or the deadline dl passes (false).
func (c *conn) waitSocket(dl time.Time) bool {
	c.tc.SetReadDeadline(dl)
	// Shutdown may have set its deadline in the past between the timeout
	// and the line above: it marks the server closing before it does.
	if c.srv.closing.Load() {
		return false
	}
	c.waited = false
	return c.rc.Read(c.readableFn) == nil
}

// readable is the function of the socket's RawConn.Read: it reports
// whether a byte, EOF or an error is waiting, the first time by a peek,
// after the poller's wake-up without one (tls.Conn's read sorts out a
// spurious one by waiting).
func (c *conn) readable(fd uintptr) bool {
	if c.waited {
		return true
	}
	c.waited = true
	return !peekWouldBlock(fd)
}
