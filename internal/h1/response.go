package h1

import (
	"bufio"
	"net"
	"net/http"
	"net/textproto"
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// This file is net/http's response writer (server.go: response,
// chunkWriter, extraHeader) for the requests this server serves: HTTP/1.1
// without a request body. Each rule keeps net/http's order and outcome;
// TestDifferential and FuzzDifferential compare the bytes on the wire.

// chunkBuffer is how much of the body is held before the header is
// written: a handler that writes no more and returns gets a computed
// Content-Length instead of chunking (net/http's bufferBeforeChunkingSize).
const chunkBuffer = 2048

// response is the http.ResponseWriter of one request.
type response struct {
	c   *conn
	req *http.Request
	ctx reqCtx // req's context
	bw  *bufio.Writer

	handlerHeader http.Header
	// header is the snapshot taken at WriteHeader when the handler held
	// the map (net/http's cw.header); snap is its pooled storage, never
	// given to the handler, and released when the request ends.
	header        http.Header
	snap          *snapshot
	calledHeader  bool
	wroteHeader   bool // logically: WriteHeader was called
	sentHeader    bool // physically: the head is in bw
	handlerDone   bool
	status        int
	contentLength int64
	written       int64
	chunking      bool
	closeAfter    bool
	wantsClose    bool
	trailers      []string

	// pend holds the body before the header is written; pendBuf holds
	// its array and the head's scratch space, pooled.
	pend    []byte
	pendBuf *pendBuf
	// done is set when the handler has returned: the writer refuses use
	// after that, so that a handler's stray goroutine cannot write into
	// buffers that serve another request by then.
	done bool
	// mu serializes the writer's methods with the end of the request (its
	// buffers go back to the pools): a goroutine can outlive the handler
	// and still hold the writer, as ReverseProxy's 1xx relay does on the
	// Transport's read loop when a round trip is canceled.
	mu sync.Mutex
}

func (w *response) Header() http.Header {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.header == nil && w.wroteHeader && !w.sentHeader && !w.done {
		w.snapshot()
	}
	w.calledHeader = true
	return w.handlerHeader
}

// snapshot sets w.header to a copy of the handler's map, as
// http.Header.Clone makes it (the value slices copied too), in pooled
// storage: net/http's clone was five allocations per proxied request.
func (w *response) snapshot() {
	sn := snapshots.Get().(*snapshot)
	nv := 0
	for _, vv := range w.handlerHeader {
		nv += len(vv)
	}
	if cap(sn.vals) < nv {
		sn.vals = make([]string, nv)
	}
	sv := sn.vals[:nv]
	for k, vv := range w.handlerHeader {
		if vv == nil {
			sn.h[k] = nil
			continue
		}
		n := copy(sv, vv)
		sn.h[k] = sv[:n:n]
		sv = sv[n:]
	}
	w.snap, w.header = sn, sn.h
}

// releaseSnapshot returns the snapshot's storage, emptied, to the pool;
// w.mu is held and w.done set, so nothing reads w.header again.
func (w *response) releaseSnapshot() {
	sn := w.snap
	if sn == nil {
		return
	}
	w.snap, w.header = nil, nil
	if len(sn.h) > maxSnapshotKeys || cap(sn.vals) > maxSnapshotValues {
		return // an unusual answer's: not worth keeping
	}
	clear(sn.h)
	clear(sn.vals[:cap(sn.vals)])
	snapshots.Put(sn)
}

// snapshot is the storage of a response's header snapshot.
type snapshot struct {
	h    http.Header
	vals []string
}

// A snapshot of more keys or values than a typical API answer's is left
// to the collector rather than pooled, so that one large answer does not
// keep a large map alive in the pool.
const (
	maxSnapshotKeys   = 32
	maxSnapshotValues = 64
)

var snapshots = sync.Pool{New: func() any { return &snapshot{h: make(http.Header)} }}

func (w *response) logf(format string, args ...any) { w.c.srv.logf(format, args...) }

func relevantCaller() runtime.Frame {
	pc := make([]uintptr, 16)
	n := runtime.Callers(1, pc)
	frames := runtime.CallersFrames(pc[:n])
	var frame runtime.Frame
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "github.com/tlsgate/tlsgate/internal/h1.") {
			return f
		}
		frame = f
		if !more {
			break
		}
	}
	return frame
}

func (w *response) WriteHeader(code int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writeHeader(code)
}

func (w *response) writeHeader(code int) {
	if w.done {
		return
	}
	if w.c.hijacked {
		caller := relevantCaller()
		w.logf("http: response.WriteHeader on hijacked connection from %s (%s:%d)", caller.Function, path.Base(caller.File), caller.Line)
		return
	}
	if w.wroteHeader {
		caller := relevantCaller()
		w.logf("http: superfluous response.WriteHeader call from %s (%s:%d)", caller.Function, path.Base(caller.File), caller.Line)
		return
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.writeStatusLine(code)
		w.handlerHeader.WriteSubset(w.bw, excludedHeadersNoBody)
		w.bw.WriteString("\r\n")
		w.noteErr(w.bw.Flush())
		return
	}
	w.wroteHeader = true
	w.status = code
	if w.calledHeader && w.header == nil {
		w.snapshot()
	}
	if cl := w.handlerHeader.Get("Content-Length"); cl != "" {
		v, err := strconv.ParseInt(cl, 10, 64)
		if err == nil && v >= 0 {
			w.contentLength = v
		} else {
			w.logf("http: invalid Content-Length of %q", cl)
			w.handlerHeader.Del("Content-Length")
		}
	}
}

var excludedHeadersNoBody = map[string]bool{"Content-Length": true, "Transfer-Encoding": true}

func (w *response) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return 0, http.ErrHijacked
	}
	if w.c.hijacked {
		if len(p) > 0 {
			caller := relevantCaller()
			w.logf("http: response.Write on hijacked connection from %s (%s:%d)", caller.Function, path.Base(caller.File), caller.Line)
		}
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.writeHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowedForStatus(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.written += int64(len(p))
	if w.contentLength != -1 && w.written > w.contentLength {
		return 0, http.ErrContentLength
	}
	return w.bufWrite(p)
}

// bufWrite is bufio.Writer.Write over the chunkBuffer-sized pend, the
// way net/http's 2 KiB writer feeds its chunkWriter: a write larger than
// the room left fills and flushes, one into an empty buffer goes straight
// through.
func (w *response) bufWrite(p []byte) (int, error) {
	nn := 0
	for len(p) > chunkBuffer-len(w.pend) {
		var n int
		if len(w.pend) == 0 {
			if !w.sentHeader {
				w.writeHead(p)
			}
			var err error
			if n, err = w.writeBody(p); err != nil {
				return nn + n, err
			}
		} else {
			n = chunkBuffer - len(w.pend)
			w.pend = append(w.pend, p[:n]...)
			if _, err := w.flushPend(); err != nil {
				return nn, err
			}
		}
		nn += n
		p = p[n:]
	}
	w.pend = append(w.pend, p...)
	return nn + len(p), nil
}

func (w *response) WriteString(s string) (int, error) {
	// net/http's response has WriteString; io.WriteString uses it.
	return w.Write([]byte(s))
}

// flushPend writes the header if due and the held body bytes.
func (w *response) flushPend() (int, error) {
	p := w.pend
	w.pend = w.pend[:0]
	if !w.sentHeader {
		w.writeHead(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	return w.writeBody(p)
}

// writeBody is chunkWriter.Write after the header.
func (w *response) writeBody(p []byte) (int, error) {
	if w.req.Method == "HEAD" {
		return len(p), nil
	}
	if w.chunking {
		b := strconv.AppendInt(w.pendBuf.scratch[:0], int64(len(p)), 16)
		b = append(b, '\r', '\n')
		if _, err := w.bw.Write(b); err != nil {
			w.noteErr(err)
			return 0, err
		}
	}
	n, err := w.bw.Write(p)
	if w.chunking && err == nil {
		_, err = w.bw.WriteString("\r\n")
	}
	if err != nil {
		w.noteErr(err)
	}
	return n, err
}

// noteErr records a write error and closes the connection, as net/http's
// checkConnErrorWriter and chunkWriter do.
func (w *response) noteErr(err error) {
	if err != nil && w.c.werr == nil {
		w.c.werr = err
		w.c.cancelRequest()
		w.c.tc.Close()
	}
}

func (w *response) Flush() { _ = w.FlushError() }

func (w *response) FlushError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done || w.c.hijacked {
		return http.ErrHijacked
	}
	if !w.wroteHeader {
		w.writeHeader(http.StatusOK)
	}
	_, err := w.flushPend()
	if e2 := w.bw.Flush(); err == nil {
		err = e2
		w.noteErr(e2)
	}
	return err
}

// SetReadDeadline and SetWriteDeadline serve http.ResponseController.
func (w *response) SetReadDeadline(t time.Time) error { return w.c.tc.SetReadDeadline(t) }
func (w *response) SetWriteDeadline(t time.Time) error {
	w.c.writeDeadline.Store(true)
	return w.c.tc.SetWriteDeadline(t)
}

// EnableFullDuplex serves http.ResponseController; a request without a
// body is full duplex already.
func (w *response) EnableFullDuplex() error { return nil }

// Hijack hands the connection to the handler, as net/http's.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done || w.c.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.wroteHeader {
		w.flushPend()
	}
	w.c.endWatch()
	w.c.hijacked = true
	w.c.tc.SetDeadline(time.Time{})
	// The connection's reader reads c.pre: its buffered bytes come
	// first, then a byte the client watch read after them, then the
	// connection.
	br := w.c.br
	if br == nil {
		br = bufio.NewReader(&w.c.pre)
	}
	w.c.br = nil // the handler owns it now
	bw := w.bw
	w.bw = nil
	return w.c.tc, bufio.NewReadWriter(br, bw), nil
}

// writeHead is chunkWriter.writeHeader: p is the body so far.
func (w *response) writeHead(p []byte) {
	if w.sentHeader {
		return
	}
	w.sentHeader = true
	keepAlives := !w.c.srv.closing.Load()
	isHEAD := w.req.Method == "HEAD"

	header := w.header
	owned := header != nil
	if !owned {
		header = w.handlerHeader
	}
	var exclude map[string]bool
	del := func(key string) {
		if owned {
			header.Del(key)
			return
		}
		if _, ok := header[key]; !ok {
			return
		}
		if exclude == nil {
			exclude = make(map[string]bool)
		}
		exclude[key] = true
	}
	var set extraHeader

	trailers := false
	for k := range w.header {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			if exclude == nil {
				exclude = make(map[string]bool)
			}
			exclude[k] = true
			trailers = true
		}
	}
	for _, v := range w.header["Trailer"] {
		trailers = true
		foreachHeaderElement(v, w.declareTrailer)
	}

	te := header.Get("Transfer-Encoding")
	hasTE := te != ""

	if w.handlerDone && !trailers && !hasTE && bodyAllowedForStatus(w.status) && !has(header, "Content-Length") && (!isHEAD || len(p) > 0) {
		w.contentLength = int64(len(p))
		set.contentLength = strconv.AppendInt(w.pendBuf.clen[:0], int64(len(p)), 10)
	}
	hasCL := w.contentLength != -1

	// HTTP/1.1 only here: no HTTP/1.0 keep-alive rules.
	if w.wantsClose {
		w.closeAfter = true
	}
	if header.Get("Connection") == "close" || !keepAlives {
		w.closeAfter = true
	}

	code := w.status
	if bodyAllowedForStatus(code) {
		_, haveType := header["Content-Type"]
		ce := header.Get("Content-Encoding")
		if len(ce) == 0 && !haveType && !hasTE && len(p) > 0 {
			set.contentType = http.DetectContentType(p)
		}
	} else {
		for _, k := range suppressedHeaders(code) {
			del(k)
		}
	}

	if !has(header, "Date") {
		set.date = time.Now().UTC().AppendFormat(w.pendBuf.date[:0], http.TimeFormat)
	}

	if hasCL && hasTE && te != "identity" {
		w.logf("http: WriteHeader called with both Transfer-Encoding of %q and a Content-Length of %d", te, w.contentLength)
		del("Content-Length")
		hasCL = false
	}

	if isHEAD || !bodyAllowedForStatus(code) || code == http.StatusNoContent {
		del("Transfer-Encoding")
	} else if hasCL {
		del("Transfer-Encoding")
	} else if hasTE && te == "identity" {
		w.chunking = false
		w.closeAfter = true
		del("Transfer-Encoding")
	} else {
		w.chunking = true
		set.transferEncoding = "chunked"
		if hasTE && te == "chunked" {
			del("Transfer-Encoding")
		}
	}
	if w.chunking {
		del("Content-Length")
	}
	if w.closeAfter && (!keepAlives || !hasToken(w.header.Get("Connection"), "close")) && !isProtocolSwitch(code, header) {
		del("Connection")
		set.connection = "close"
	}

	w.writeStatusLine(code)
	w.pendBuf.fields = writeFields(w.bw, w.header, exclude, w.pendBuf.fields)
	set.write(w.bw)
	w.bw.WriteString("\r\n")
}

func has(h http.Header, key string) bool {
	_, ok := h[key]
	return ok
}

func (w *response) writeStatusLine(code int) {
	b := append(w.pendBuf.scratch[:0], "HTTP/1.1 "...)
	if text := http.StatusText(code); text != "" {
		b = strconv.AppendInt(b, int64(code), 10)
		b = append(b, ' ')
		b = append(b, text...)
	} else {
		// As net/http: an unknown code gets a made-up reason phrase.
		b = strconv.AppendInt(b, int64(code), 10)
		b = append(b, " status code "...)
		b = strconv.AppendInt(b, int64(code), 10)
	}
	b = append(b, '\r', '\n')
	w.bw.Write(b)
}

func (w *response) declareTrailer(k string) {
	k = http.CanonicalHeaderKey(k)
	if !httpguts.ValidTrailerHeader(k) {
		return
	}
	w.trailers = append(w.trailers, k)
}

// finish is net/http's finishRequest; it reports whether the connection
// may serve another request. w.mu is held.
func (w *response) finish() bool {
	w.handlerDone = true
	if !w.wroteHeader {
		w.writeHeader(http.StatusOK)
	}
	w.flushPend()
	if w.chunking {
		w.bw.WriteString("0\r\n")
		if t := w.finalTrailers(); t != nil {
			t.Write(w.bw)
		}
		w.bw.WriteString("\r\n")
	}
	w.noteErr(w.bw.Flush())
	if w.closeAfter {
		return false
	}
	if w.req.Method != "HEAD" && w.contentLength != -1 && bodyAllowedForStatus(w.status) && w.contentLength != w.written {
		return false
	}
	return w.c.werr == nil
}

func (w *response) finalTrailers() http.Header {
	var t http.Header
	for k, vv := range w.handlerHeader {
		if kk, found := strings.CutPrefix(k, http.TrailerPrefix); found {
			if t == nil {
				t = make(http.Header)
			}
			t[kk] = vv
		}
	}
	for _, k := range w.trailers {
		if t == nil {
			t = make(http.Header)
		}
		for _, v := range w.handlerHeader[k] {
			t.Add(k, v)
		}
	}
	return t
}

// extraHeader is the headers net/http adds, in its order.
type extraHeader struct {
	contentType      string
	connection       string
	transferEncoding string
	date             []byte
	contentLength    []byte
}

func (h extraHeader) write(w *bufio.Writer) {
	if h.date != nil {
		w.WriteString("Date: ")
		w.Write(h.date)
		w.WriteString("\r\n")
	}
	if h.contentLength != nil {
		w.WriteString("Content-Length: ")
		w.Write(h.contentLength)
		w.WriteString("\r\n")
	}
	for i, v := range []string{h.contentType, h.connection, h.transferEncoding} {
		if v != "" {
			w.WriteString(extraHeaderKeys[i])
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
}

var extraHeaderKeys = [...]string{"Content-Type", "Connection", "Transfer-Encoding"}

func bodyAllowedForStatus(status int) bool {
	switch {
	case status >= 100 && status <= 199:
		return false
	case status == 204:
		return false
	case status == 304:
		return false
	}
	return true
}

func suppressedHeaders(status int) []string {
	switch {
	case status == 304:
		return []string{"Content-Type", "Content-Length", "Transfer-Encoding"}
	case !bodyAllowedForStatus(status):
		return []string{"Content-Length", "Transfer-Encoding"}
	}
	return nil
}

func isProtocolSwitch(code int, h http.Header) bool {
	return code == http.StatusSwitchingProtocols && httpguts.HeaderValuesContainsToken(h["Connection"], "Upgrade")
}

// hasToken is net/http's: whether token appears in v, case-insensitively,
// as a whole word.
func hasToken(v, token string) bool {
	if len(token) > len(v) || token == "" {
		return false
	}
	if v == token {
		return true
	}
	for sp := 0; sp <= len(v)-len(token); sp++ {
		if b := v[sp]; b != token[0] && b|0x20 != token[0] {
			continue
		}
		if sp > 0 && !isTokenBoundary(v[sp-1]) {
			continue
		}
		if endPos := sp + len(token); endPos != len(v) && !isTokenBoundary(v[endPos]) {
			continue
		}
		if strings.EqualFold(v[sp:sp+len(token)], token) {
			return true
		}
	}
	return false
}

func isTokenBoundary(b byte) bool { return b == ' ' || b == ',' || b == '\t' }

func foreachHeaderElement(v string, fn func(string)) {
	v = textproto.TrimString(v)
	if v == "" {
		return
	}
	if !strings.Contains(v, ",") {
		fn(v)
		return
	}
	for f := range strings.SplitSeq(v, ",") {
		if f = textproto.TrimString(f); f != "" {
			fn(f)
		}
	}
}

// serveRequest runs the handler for req and reports whether the
// connection may serve another request.
func (c *conn) serveRequest(req *http.Request) bool {
	w := &response{c: c, handlerHeader: make(http.Header, headerHint), contentLength: -1}
	w.ctx.init(c.ctx, c.ctxEndless)
	req = req.WithContext(&w.ctx)
	w.req = req
	w.pendBuf = pends.Get().(*pendBuf)
	w.pend = w.pendBuf.body[:0]
	w.wantsClose = hasToken(req.Header.Get("Connection"), "close")
	w.bw = writers.Get().(*bufio.Writer)
	w.bw.Reset(c.tc)
	c.startWatch(&w.ctx)
	defer w.ctx.cancel()
	// A handler that panics (http.ErrAbortHandler included) ends the
	// connection: the watch must be done with it before serveConn
	// releases the connection's reader and closes it.
	defer func() {
		c.endWatch()
		// After a panic too: the writer's buffers are not pooled then,
		// but a stray goroutine must not write after the close.
		w.mu.Lock()
		w.done = true
		w.releaseSnapshot()
		w.mu.Unlock()
	}()

	// "OPTIONS *" never comes here (eligible wants an origin-form
	// target): net/http answers it.
	c.srv.Handler.ServeHTTP(w, req)
	c.endWatch()
	w.mu.Lock()
	defer w.mu.Unlock()
	if c.hijacked {
		w.done = true
		return false
	}
	ok := w.finish()
	w.done = true
	if c.writeDeadline.Swap(false) {
		// As net/http, a deadline the handler set ends with its request.
		// Only then: clearing it costs the send timeout's re-arming
		// (proxy.SendTimeoutListener) on the next write.
		c.tc.SetWriteDeadline(time.Time{})
	}
	w.bw.Reset(nil)
	writers.Put(w.bw)
	pends.Put(w.pendBuf)
	w.bw, w.pend, w.pendBuf = nil, nil, nil
	return ok && !c.srv.closing.Load()
}

// headerHint sizes the response's header map for a gateway's answer: its
// own headers (request ID, Alt-Svc, four security headers) and the
// upstream's (Content-Type, Content-Length, Date, a few more) are 9 or
// more, past the 8 a map holds before it grows (three allocations, 744 B,
// per request). Sized for 12 it takes room for 14 at once.
const headerHint = 12

// pendBuf is a request's pooled buffers, held while it is served: the
// body before the header is written, and scratch arrays for the head
// (separate: the date and the length are written out after the status
// line is built). In the response they were 113 bytes of every
// request's allocation.
type pendBuf struct {
	body    [chunkBuffer]byte
	scratch [64]byte
	date    [len(http.TimeFormat)]byte
	clen    [20]byte
	fields  []field // writeFields' scratch space: empty between uses
}

var pends = sync.Pool{New: func() any { return new(pendBuf) }}
