package plan_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/pkitest"
	"github.com/tlsgate/tlsgate/internal/plan"
)

// TestExamplesCheck runs every example config through plan.Check, as
// `tlsgate config validate` does on a machine that has its files. The
// files an example names (under /etc, /var/lib) do not exist here, so
// each is stood in for by a throwaway one of the same kind: a certificate
// pair for the site's hosts, a CA bundle, a CRL. Everything else is
// checked as it is written: routes_from documents, ACME settings,
// storage. config's TestExamples checks Parse and Validate alone.
//
// A new example that names another kind of file fails here until this
// test learns to stand in for it.
func TestExamplesCheck(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	ca := pkitest.NewCA(t, "examples CA")
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatalf("Load:\n%v", err)
			}
			dir := t.TempDir()
			n := 0
			pair := func(names []string, client bool) (string, string) {
				n++
				return pkitest.WriteFiles(t, dir, fmt.Sprint("pair", n), ca.Issue(t, pkitest.Leaf{Names: names, Client: client}))
			}
			root := ca.WriteRoot(t, dir)
			tsig := filepath.Join(dir, "tsig.key")
			os.WriteFile(tsig, []byte("c2VjcmV0\n"), 0o600)
			if cfg.ACME.DNS.KeyFile != "" {
				cfg.ACME.DNS.KeyFile = tsig
			}
			for i := range cfg.Sites {
				s := &cfg.Sites[i]
				if c := &s.TLS.Certificate; c.Source == config.SourceFiles {
					c.Cert, c.Key = pair(s.Hosts, false)
				}
				if d := &s.TLS.Certificate.ACME.DNS; d.KeyFile != "" {
					d.KeyFile = tsig
				}
				for k := range s.ClientAuth.CA {
					s.ClientAuth.CA[k] = root
				}
				for k := range s.ClientAuth.CRL {
					s.ClientAuth.CRL[k] = ca.WriteCRL(t, dir, fmt.Sprintf("site%d-%d.crl", i, k))
				}
				upstreams := []*config.UpstreamTLS{}
				for j := range s.Routes {
					upstreams = append(upstreams, &s.Routes[j].UpstreamTLS)
				}
				if s.RoutesFrom != nil {
					upstreams = append(upstreams, &s.RoutesFrom.UpstreamTLS)
				}
				for _, u := range upstreams {
					if u.CA != "" {
						u.CA = root
					}
					if u.ClientCert != "" {
						u.ClientCert, u.ClientKey = pair([]string{"gateway.example"}, true)
					}
				}
			}
			if err := plan.Check(cfg, slog.New(slog.DiscardHandler)); err != nil {
				t.Errorf("plan.Check:\n%v", err)
			}
		})
	}
}
