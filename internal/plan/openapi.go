package plan

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/mtls"
	"github.com/tlsgate/tlsgate/internal/oaslint"
)

// specOperations derives site i's operation table from its routes_from
// document: linted first (error-level findings refuse it), then every
// operation the document declares (oaslint.Operations), each with its
// client-auth mode. An operation whose template is the path of one of the
// site's configured routes is left to the config (its route wins).
func specOperations(cfg *config.Config, i int) ([]Operation, error) {
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
	ops, err := oaslint.Operations(doc)
	if err != nil {
		return nil, cfg.Errorf(key, "%v", err)
	}

	own := map[string]bool{}
	for _, r := range cfg.Sites[i].Routes {
		own[r.Path] = true
	}
	var out []Operation
	var needCA []string
	for _, op := range ops {
		if own[op.Path] {
			continue
		}
		file := op.File
		if file == doc.File {
			file = rf.OpenAPI // as the config names it
		}
		o := Operation{Method: op.Method, Path: op.Path, ClientAuth: mtls.Mode(op.ClientAuth), From: fmt.Sprintf("%s:%d", file, op.Line)}
		if o.ClientAuth != mtls.None && cfg.Sites[i].ClientAuth.IsZero() {
			needCA = append(needCA, o.Method+" "+o.Path+" ("+o.From+")")
		}
		out = append(out, o)
	}
	if len(needCA) > 0 {
		return nil, cfg.Errorf(key, "%s requires client certificates on %s (a mutualTLS security scheme) but the site trusts no client CA: add client_auth: {ca: [FILE]} or {internal_ca: true}",
			rf.OpenAPI, strings.Join(needCA, ", "))
	}
	return out, nil
}

// An Entry is one line of a site's routing table, for `tlsgate config
// explain`: an operation of its routes_from document, or a configured
// prefix route.
type Entry struct {
	Site string
	// Method is the operation's method; "*" for a configured route (any
	// method).
	Method string
	// Path is an operation's template or a configured route's prefix.
	Path       string
	ClientAuth string
	// From is where the entry is written: the document's file:line of the
	// operation, or the config's file:line of the route.
	From string
}

// Explain returns the routing table of every site in the order a request
// is matched: the operations of its routes_from document (its operation
// table), then its configured routes, which take the paths no template
// matches. It reads the documents only (no certificate or CA file), so it
// explains a config whose files are not at hand; what it returns is what
// Resolve routes.
func Explain(cfg *config.Config) ([]Entry, error) {
	var out []Entry
	var errs []error
	for i, s := range cfg.Sites {
		site := config.NormalizeHost(s.Hosts[0])
		if s.RoutesFrom != nil {
			ops, err := specOperations(cfg, i)
			if err != nil {
				errs = append(errs, err)
			}
			for _, o := range ops {
				out = append(out, Entry{Site: site, Method: o.Method, Path: o.Path, ClientAuth: string(o.ClientAuth), From: o.From})
			}
		}
		for j, r := range s.Routes {
			mode := r.ClientAuth
			if mode == "" {
				mode = string(mtls.None)
			}
			out = append(out, Entry{Site: site, Method: "*", Path: r.Path, ClientAuth: mode, From: routeFrom(cfg, i, j)})
		}
	}
	return out, errors.Join(errs...)
}

// routeFrom is where configured route j of site i is written.
func routeFrom(cfg *config.Config, i, j int) string {
	if p := cfg.Position(fmt.Sprintf("sites[%d].routes[%d]", i, j)); p != "" {
		return p
	}
	return "config"
}
