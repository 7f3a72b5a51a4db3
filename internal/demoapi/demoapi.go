// Package demoapi is the small API that `tlsgate demo` puts behind the
// gateway, so a user sees exactly what a backend receives.
//
// It imports nothing of this module.
package demoapi

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Handler serves /api/health, /public/info and /internal/payments.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"status": "ok", "time": time.Now().UTC().Format(time.RFC3339)})
	})
	mux.HandleFunc("GET /public/info", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"service":          "tlsgate demo API",
			"note":             "this backend speaks plain HTTP on loopback; the gateway terminates TLS in front of it",
			"headers_received": forwarded(r),
		})
	})
	mux.HandleFunc("/internal/payments", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"payments":         []map[string]any{{"id": "pay_1", "amount": 4200, "currency": "EUR"}},
			"headers_received": forwarded(r),
		})
	})
	return mux
}

// forwarded returns the headers the gateway adds, as the backend saw them.
func forwarded(r *http.Request) map[string]string {
	out := map[string]string{"Host": r.Host}
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.HasPrefix(k, "X-") {
			out[k] = strings.Join(r.Header[k], ", ")
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
