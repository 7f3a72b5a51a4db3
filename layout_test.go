package tlsgate_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/tlsgate/tlsgate"

// layout is the architecture as imports: for each package of the module,
// the packages of the module it may import. A package not listed may
// import anything but the root package and cmd/. Each package's doc
// comment says the same in words; README's Layout section draws it.
var layout = map[string][]string{
	// Leaves: each owns one concern and imports nothing of ours.
	"internal/tlspolicy":  nil, // the only tls.Config builder; profile names
	"internal/mtls":       nil, // client identity; client-auth modes
	"internal/loopback":   nil,
	"internal/inventory":  nil,
	"internal/hostmap":    nil,
	"internal/memtrim":    nil, // returns memory to the OS after a connection burst
	"internal/datadir":    nil,
	"internal/ca":         {"internal/atomicfile"},
	"internal/scan":       nil, // never prints; the suite table
	"internal/sarif":      nil,
	"internal/atomicfile": nil,
	"internal/pkitest":    nil,
	"internal/demoapi":    nil,
	"internal/storage":    nil,
	"internal/httphead":   nil, // the usual HTTP/1.1 heads, parsed as net/http parses them
	"internal/dns01":      nil, // dns-01 challenge: DNS UPDATE, exec hooks, propagation

	// HTTP/1.1 serving on the connection's goroutine.
	"internal/h1": {"internal/httphead"},

	// Encrypted Client Hello keys and configs.
	"internal/ech": {"internal/atomicfile"},
	// Layers above the leaves.
	"internal/certs":   {"internal/ca"},
	"internal/config":  {"internal/ca", "internal/ech", "internal/loopback", "internal/mtls", "internal/tlspolicy"},
	"internal/oaslint": {"internal/loopback", "internal/sarif"},
	"internal/proxy":   {"internal/httphead", "internal/mtls", "internal/inventory"},
	"internal/metrics": {"internal/inventory"},
	"internal/status":  {"internal/inventory"},
	"internal/probe":   {"internal/scan"},
	"internal/acme":    {"internal/acme/ondemand", "internal/certs", "internal/config", "internal/dns01", "internal/storage"},
	// on-demand TLS decisions: ask endpoint, refusal cache, back-off, limits
	"internal/acme/ondemand": {"internal/config"},
	"internal/cluster":       {"internal/certs", "internal/config", "internal/ech", "internal/storage", "internal/tlspolicy"},
	"internal/plan": {"internal/acme", "internal/certs", "internal/cluster", "internal/config", "internal/datadir",
		"internal/mtls", "internal/oaslint", "internal/proxy", "internal/storage", "internal/tlspolicy"},
}

// owners are the only packages that may import a heavy dependency
// directly, so that it stays out of everything else's build and tests.
var owners = map[string][]string{
	"go.etcd.io/etcd/":                     {"internal/cluster"},
	"github.com/caddyserver/certmagic":     {"internal/acme", "internal/storage", "internal/cluster"},
	"github.com/prometheus/client_golang/": {"internal/metrics", "internal/probe", "internal/server", ""},
	"github.com/miekg/dns":                 {"internal/dns01", "internal/testpeer"},
}

// TestLayout holds the module's imports to layout and owners.
func TestLayout(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \",\"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, imports, _ := strings.Cut(line, "|")
		pkg := strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
		allowed, listed := layout[pkg]
		for _, imp := range strings.Split(imports, ",") {
			if imp == "" {
				continue
			}
			if own, ok := strings.CutPrefix(imp, module); ok {
				own = strings.TrimPrefix(own, "/")
				switch {
				case strings.HasPrefix(own, "cmd/") || own == "" && strings.HasPrefix(pkg, "internal/"):
					t.Errorf("%s imports %s: no internal package imports the Go API, nothing imports a command", pkg, imp)
				case listed && !slices.Contains(allowed, own):
					t.Errorf("%s imports %s; its layer allows %v", pkg, own, allowed)
				}
				continue
			}
			for dep, who := range owners {
				if strings.HasPrefix(imp, dep) && !slices.Contains(who, pkg) && !strings.HasPrefix(pkg, "bench/") {
					t.Errorf("%s imports %s, which only %v may import", pkg, imp, who)
				}
			}
		}
	}
}

// tlsConfigMakers may write a tls.Config literal: tlspolicy builds every
// config the gateway serves or dials with; the scanner and the probe must
// speak broken TLS on purpose; the test peers and benchmarks are not the
// gateway.
var tlsConfigMakers = []string{"internal/tlspolicy/", "internal/scan/", "internal/probe/", "internal/testpeer/", "bench/"}

// TestOnlyTLSPolicyBuildsConfigs: no other non-test file of the module
// writes a tls.Config literal.
func TestOnlyTLSPolicyBuildsConfigs(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		for _, ok := range tlsConfigMakers {
			if strings.HasPrefix(filepath.ToSlash(path), ok) {
				return nil
			}
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if cl, ok := n.(*ast.CompositeLit); ok {
				if sel, ok := cl.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Config" {
					if id, ok := sel.X.(*ast.Ident); ok && id.Name == "tls" {
						t.Errorf("%s: a tls.Config literal outside tlspolicy: build it with tlspolicy", fset.Position(cl.Pos()))
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
