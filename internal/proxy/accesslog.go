package proxy

import (
	"bufio"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// logWriter records the status and size of a response for the access log.
// It forwards Flush and the rest through Unwrap, so streaming and
// http.ResponseController keep working.
type logWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *logWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *logWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *logWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack hands the connection to the handler, logged as 101 (Switching
// Protocols: what a WebSocket handler answers on it).
func (w *logWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return c, rw, err
}

func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Site) logAccess(r *http.Request, w *logWriter, inf *info, start time.Time) {
	// An array, so that the slice stays on the stack: an appended literal
	// grew into a new heap array on every request.
	var buf [14]slog.Attr
	attrs := append(buf[:0],
		slog.String("site", s.name),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("proto", r.Proto),
		slog.Int("status", w.status),
		slog.Int64("bytes", w.bytes),
		slog.Float64("latency", time.Since(start).Seconds()), // seconds, as Caddy logs "duration"
		slog.String("upstream", inf.upstream),
		slog.String("remote", r.RemoteAddr),
		slog.String("request_id", inf.id),
	)
	if cs := r.TLS; cs != nil {
		attrs = append(attrs,
			slog.String("tls_version", tls.VersionName(cs.Version)),
			slog.String("cipher", cipherSuiteName(cs.CipherSuite)),
			slog.String("sni", cs.ServerName),
			slog.Bool("resumed", cs.DidResume),
		)
	}
	s.opts.Log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

// cipherNames are tls.CipherSuiteName's answers for the suites crypto/tls
// knows, computed once: CipherSuiteName builds the list of every suite
// (14 allocations) to name a TLS 1.3 suite, on every logged request.
var cipherNames = func() map[uint16]string {
	m := map[uint16]string{}
	for _, list := range [][]*tls.CipherSuite{tls.CipherSuites(), tls.InsecureCipherSuites()} {
		for _, c := range list {
			m[c.ID] = tls.CipherSuiteName(c.ID)
		}
	}
	return m
}()

// cipherSuiteName is tls.CipherSuiteName.
func cipherSuiteName(id uint16) string {
	if name, ok := cipherNames[id]; ok {
		return name
	}
	return tls.CipherSuiteName(id)
}
