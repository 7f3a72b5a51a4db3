package plan

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/mtls"
	"github.com/tlsgate/tlsgate/internal/oaslint"
)

// specRoutes derives site i's routes from its routes_from document:
// linted first (error-level findings refuse it), then one prefix route per
// path. A plain path routes by itself ("/v1/pets"), a template by its
// literal prefix ("/v1/pets/{id}" → "/v1/pets/"); the longest prefix wins,
// so the two keep their own client-auth modes. Paths that share a prefix
// share a route, which takes the strictest mode among them. Paths the config routes itself
// are left to the config.
func specRoutes(cfg *config.Config, i int) ([]Route, error) {
	rf := cfg.Sites[i].RoutesFrom
	path := rf.OpenAPI
	if !filepath.IsAbs(path) && cfg.File() != "" {
		path = filepath.Join(filepath.Dir(cfg.File()), path)
	}
	key := fmt.Sprintf("sites[%d].routes_from.openapi", i)
	doc, err := oaslint.Load(path)
	if err != nil {
		return nil, cfg.Errorf(key, "%v", err)
	}
	rep := (&oaslint.Linter{}).Lint(doc)
	if n := rep.Count(oaslint.Error); n > 0 {
		var first oaslint.Finding
		for _, f := range rep.Findings {
			if f.Severity == oaslint.Error {
				first = f
				break
			}
		}
		return nil, cfg.Errorf(key, "%s has %d error-level findings, so it cannot be the gateway's policy; the first: %s:%d:%d: %s: %s (run 'tlsgate lint %s' for all)",
			rf.OpenAPI, n, first.File, first.Line, first.Column, first.Rule, first.Message, rf.OpenAPI)
	}
	routes, err := oaslint.Operations(doc)
	if err != nil {
		return nil, cfg.Errorf(key, "%v", err)
	}

	own := map[string]bool{}
	for _, r := range cfg.Sites[i].Routes {
		own[r.Path] = true
	}
	type merged struct {
		mode    mtls.Mode
		methods []string
		from    []string
	}
	byPrefix := map[string]*merged{}
	var order []string
	for _, r := range routes {
		p := routePrefix(r.Path)
		if own[p] {
			continue
		}
		mode := mtls.Mode(r.ClientAuth)
		m, ok := byPrefix[p]
		if !ok {
			m = &merged{mode: mode}
			byPrefix[p] = m
			order = append(order, p)
		}
		if strictness(mode) > strictness(m.mode) {
			m.mode = mode
		}
		if !slices.Contains(m.methods, r.Method) {
			m.methods = append(m.methods, r.Method)
		}
		if f := fmt.Sprintf("%s:%d %s", rf.OpenAPI, r.Line, r.Path); !slices.Contains(m.from, f) {
			m.from = append(m.from, f)
		}
	}
	var out []Route
	for _, p := range order {
		m := byPrefix[p]
		if m.mode != mtls.None && cfg.Sites[i].ClientAuth.IsZero() {
			return nil, cfg.Errorf(key, "%s requires client certificates on %s (a mutualTLS security scheme) but the site trusts no client CA: add client_auth: {ca: [FILE]} or {internal_ca: true}",
				rf.OpenAPI, strings.Join(m.from, ", "))
		}
		out = append(out, Route{Path: p, Upstreams: rf.Upstreams, ClientAuth: m.mode, Methods: m.methods, From: m.from})
	}
	return out, nil
}

// routePrefix is the prefix a gateway routes a path template by.
func routePrefix(template string) string {
	if i := strings.IndexByte(template, '{'); i >= 0 {
		return template[:strings.LastIndexByte(template[:i], '/')+1]
	}
	return template // a prefix: "/pets" also routes "/pets/..." unless a longer route does
}

func strictness(mode mtls.Mode) int {
	switch mode {
	case mtls.Require:
		return 2
	case mtls.Optional:
		return 1
	}
	return 0
}

// An Entry is one route of a site and where it comes from, for
// `tlsgate config explain`.
type Entry struct {
	Site       string
	Path       string
	ClientAuth string
	// Methods the document declares; nil for configured routes.
	Methods []string
	// From is "config" or the document's file:line of each path the route
	// covers.
	From []string
}

// Explain returns every route of every site: configured and derived from
// OpenAPI documents. It reads the documents only (no certificate or CA
// file), so it explains a config whose files are not at hand; what it
// returns is what Resolve routes.
func Explain(cfg *config.Config) ([]Entry, error) {
	var out []Entry
	var errs []error
	for i, s := range cfg.Sites {
		site := config.NormalizeHost(s.Hosts[0])
		for _, r := range s.Routes {
			out = append(out, Entry{Site: site, Path: r.Path, ClientAuth: r.ClientAuth, From: []string{"config"}})
		}
		if s.RoutesFrom == nil {
			continue
		}
		derived, err := specRoutes(cfg, i)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, r := range derived {
			out = append(out, Entry{Site: site, Path: r.Path, ClientAuth: string(r.ClientAuth), Methods: r.Methods, From: r.From})
		}
	}
	return out, errors.Join(errs...)
}
