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
// collection only when less than a quarter of it is in use. So an idle
// connection waits for its next request on the socket itself, with a
// peek that reads nothing, and calls tls.Conn.Read only once a byte (or
// the end of the connection) is there; its stack then shrinks to 4 KiB at
// the next collection (issue 17: 4 KiB of an idle HTTP/1.1 connection's
// 17 kB). The bytes read, and what is written, do not change.

// waitResult is how an idle wait ended.
type waitResult int

const (
	waitReadable waitResult = iota // the socket has a byte, EOF or an error: read the connection
	waitTook                       // c.pre.b holds the next request's first byte, which tls.Conn held already
	waitFailed                     // the deadline passed or the connection was closed
)

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

// waitIdle waits until the connection has something to read, under the
// read deadline dl, which it sets.
func (c *conn) waitIdle(dl time.Time) waitResult {
	// tls.Conn may hold the next request already: a record read from the
	// socket with the last one (a pipelining client). Take a byte of it
	// without waiting; with the deadline passed, tls.Conn returns a
	// timeout and stays usable when it holds no whole record.
	c.tc.SetReadDeadline(aLongTimeAgo)
	n, err := c.tc.Read(c.pre.b[:])
	c.tc.SetReadDeadline(dl)
	if n == 1 {
		return waitTook
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return waitFailed
	}
	c.waited = false
	if err := c.rc.Read(c.readableFn); err != nil {
		return waitFailed
	}
	return waitReadable
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
