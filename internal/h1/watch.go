package h1

import (
	"time"
)

// The client watch: net/http reads ahead on every request's connection
// to cancel the request's context when the client goes away. Here that
// read starts only once a handler has run for watchAfter, from a timer
// the connection reuses, so that quick requests pay for one timer reset
// and stop. A byte it reads (the next pipelined request) is kept for the
// next request, as net/http keeps its.

// startWatch arms the watch for the request whose context is ctx.
func (c *conn) startWatch(ctx *reqCtx) {
	c.watchMu.Lock()
	c.reqDone = false
	c.reqCtx = ctx
	c.watchMu.Unlock()
	if c.watchTimer == nil {
		c.watchTimer = time.AfterFunc(watchAfter, c.watchFn)
	} else {
		c.watchTimer.Reset(watchAfter)
	}
}

// endWatch disarms the watch, stopping a read-ahead in progress, and
// returns when the watch is done with the connection.
func (c *conn) endWatch() {
	c.watchMu.Lock()
	if c.reqDone {
		c.watchMu.Unlock()
		return
	}
	c.reqDone = true
	c.reqCtx = nil
	if c.watchTimer.Stop() {
		c.watchMu.Unlock()
		return
	}
	// The timer fired: its function runs (or ran) and signals once.
	if c.watching {
		c.aborting = true
		c.tc.SetReadDeadline(aLongTimeAgo)
	}
	c.watchMu.Unlock()
	<-c.watchDone
	c.watchMu.Lock()
	c.aborting = false
	c.watchMu.Unlock()
}

// cancelRequest cancels the context of the request in flight, if any.
func (c *conn) cancelRequest() {
	c.watchMu.Lock()
	ctx := c.reqCtx
	c.watchMu.Unlock()
	if ctx != nil {
		ctx.cancel()
	}
}

// watchClient is the timer's function: it reads ahead until the client
// sends a byte, closes, or endWatch aborts the read.
func (c *conn) watchClient() {
	defer func() { c.watchDone <- struct{}{} }()
	c.watchMu.Lock()
	if c.reqDone || c.pre.pending {
		// Done already, or a byte read ahead is still held (as net/http,
		// which watches only while it holds none). Bytes the reader
		// buffered (a pipelined request) are no reason not to watch: a
		// client may send a request and a byte more, then leave. The byte
		// read goes to c.pre, which the reader (or handOver, or Hijack)
		// takes after its buffered bytes.
		c.watchMu.Unlock()
		return
	}
	c.watching = true
	c.tc.SetReadDeadline(time.Time{})
	c.watchMu.Unlock()

	n, err := c.tc.Read(c.watchByte[:])

	c.watchMu.Lock()
	defer c.watchMu.Unlock()
	c.watching = false
	if n == 1 {
		c.pre.b[0] = c.watchByte[0]
		c.pre.pending = true
	}
	if err != nil && n == 0 && !c.aborting && c.reqCtx != nil {
		c.reqCtx.cancel()
	}
}
