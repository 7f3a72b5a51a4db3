package proxy

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

func TestAccessLog(t *testing.T) {
	t.Parallel()
	up := echoBackend(t, "up")
	logs := &recordHandler{}
	opts := testOptions()
	opts.Log = slog.New(logs)
	opts.AccessLog = true
	s := newTestSite(t, opts,
		RouteConfig{Path: "/", Upstreams: []string{up.URL}},
		RouteConfig{Path: "/down/", Upstreams: []string{deadURL(t)}})
	for _, tc := range []struct {
		path     string
		status   int
		upstream string
	}{{"/ok", 200, up.URL}, {"/down/x", 502, "http://"}} {
		resp := get(t, s, "https://example.com"+tc.path)
		io.Copy(io.Discard, resp.Body)
		id := resp.Header.Get("X-Request-Id")
		rec := logs.find("request", "request_id", id)
		if rec == nil {
			t.Fatalf("%s: no access log line with request_id %s", tc.path, id)
		}
		if rec["status"] != int64(tc.status) || rec["path"] != tc.path || rec["method"] != "GET" || rec["site"] != "example.com" ||
			!strings.HasPrefix(rec["upstream"].(string), tc.upstream) {
			t.Errorf("%s: access log %v", tc.path, rec)
		}
	}
}

// recordHandler keeps log records as attribute maps.
type recordHandler struct {
	mu   sync.Mutex
	recs []map[string]any
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }

func (h *recordHandler) WithGroup(string) slog.Handler { return h }

func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{"msg": r.Message}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.Any()
		return true
	})
	h.mu.Lock()
	h.recs = append(h.recs, m)
	h.mu.Unlock()
	return nil
}

func (h *recordHandler) dump(t *testing.T) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.recs {
		t.Logf("log: %v", r)
	}
}

func (h *recordHandler) find(msg, key string, val any) map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.recs {
		if r["msg"] == msg && r[key] == val {
			return r
		}
	}
	return nil
}

// TestCipherSuiteName: the access log's cached names are crypto/tls's,
// for every suite ID.
func TestCipherSuiteName(t *testing.T) {
	t.Parallel()
	for id := range 1 << 16 {
		if got, want := cipherSuiteName(uint16(id)), tls.CipherSuiteName(uint16(id)); got != want {
			t.Fatalf("cipherSuiteName(%#04x) = %q, want %q", id, got, want)
		}
	}
	if len(cipherNames) == 0 {
		t.Fatal("no cached names")
	}
}
