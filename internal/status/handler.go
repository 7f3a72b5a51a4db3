package status

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

//go:embed assets
var assets embed.FS

// contentSecurityPolicy lets the page load only its own stylesheet and icon.
// The page needs no script, so none is allowed: a subject or name that
// escaped the template could not run. frame-ancestors stops another site
// from framing the admin page.
const contentSecurityPolicy = "default-src 'self'; script-src 'none'; object-src 'none'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// refreshSeconds is how often the page reloads itself: often enough to
// watch a renewal or an upstream recover, rarely enough to read a table.
const refreshSeconds = 10

var pageTemplate = template.Must(template.New("page.html").
	Funcs(template.FuncMap{"count": formatCount}).
	ParseFS(assets, "assets/page.html"))

// Handler serves the status page at "/", the [Snapshot] as JSON at
// "/status.json" and the page's embedded stylesheet and icon under
// "/static/". Other paths are 404. It calls snapshot once per page or JSON
// request, possibly concurrently.
//
// The page links its files with relative URLs, so it can be mounted under a
// prefix that ends in "/" with [http.StripPrefix].
//
// Every text is escaped, and upstream URLs lose their password (in the page
// and in the JSON), so that neither a certificate subject nor a config value
// can inject markup or leak a credential.
func Handler(snapshot func() Snapshot) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		servePage(w, snapshot())
	})
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		serveJSON(w, snapshot())
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticFiles()))
	return securityHeaders(mux)
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

func servePage(w http.ResponseWriter, s Snapshot) {
	// Rendered into a buffer so that a template error is a clean 500 and
	// not half a page.
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, newView(redact(s), time.Now())); err != nil {
		http.Error(w, "rendering the status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}

func serveJSON(w http.ResponseWriter, s Snapshot) {
	body, err := json.MarshalIndent(redact(s), "", "  ")
	if err != nil {
		http.Error(w, "encoding the status snapshot: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(append(body, '\n'))
}

// redact returns s with the passwords of upstream URLs replaced by "xxxxx"
// (config may carry basic-auth credentials in an upstream URL). It copies
// the slice it changes: the caller's snapshot is not modified.
func redact(s Snapshot) Snapshot {
	ups := make([]Upstream, len(s.Upstreams))
	for i, u := range s.Upstreams {
		u.URL = redactURL(u.URL)
		ups[i] = u
	}
	if s.Upstreams != nil {
		s.Upstreams = ups
	}
	return s
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		// Unparsable: cannot tell where a password would be, so show
		// nothing after the scheme separator.
		if i := strings.Index(raw, "://"); i >= 0 && strings.Contains(raw[i:], "@") {
			return raw[:i+3] + "(unparsable URL hidden)"
		}
		return raw
	}
	return u.Redacted()
}

// staticFiles serves the embedded assets with an ETag of their content, so
// the page's ten-second refresh costs a 304 and not the stylesheet.
func staticFiles() http.Handler {
	type file struct {
		body        []byte
		etag, ctype string
	}
	files := map[string]file{}
	err := fs.WalkDir(assets, "assets/static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		files[strings.TrimPrefix(p, "assets/static/")] = file{
			body:  body,
			etag:  `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`,
			ctype: mime.TypeByExtension(path.Ext(p)),
		}
		return nil
	})
	if err != nil {
		panic("status: reading embedded assets: " + err.Error())
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", f.ctype)
		w.Header().Set("ETag", f.etag)
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
	})
}
