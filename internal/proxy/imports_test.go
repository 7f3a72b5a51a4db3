package proxy

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports holds the package to what doc.go says it imports: of this
// module, only internal/mtls; no Prometheus, no etcd.
func TestImports(t *testing.T) {
	t.Parallel()
	const module = "github.com/tlsgate/tlsgate/"
	allowed := map[string]bool{module + "internal/mtls": true}
	forbidden := []string{"github.com/prometheus/", "go.etcd.io/"}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, module) && !allowed[path] {
				t.Errorf("%s imports %s: of this module, the proxy may import only internal/mtls (see doc.go)", name, path)
			}
			for _, p := range forbidden {
				if strings.HasPrefix(path, p) {
					t.Errorf("%s imports %s: metrics leave through Observer, and etcd is internal/cluster's (see doc.go)", name, path)
				}
			}
		}
	}
}
