package config

import (
	"os"
	"path/filepath"
	"testing"
)

// examplesDir holds the commented example configs shipped with tlsgate.
var examplesDir = filepath.Join("..", "..", "examples")

// exampleFiles returns the paths of examples/*.yaml, failing if there are none.
func exampleFiles(tb testing.TB) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(files) == 0 {
		tb.Fatalf("no examples in %s", examplesDir)
	}
	return files
}

// TestExamples checks that every example is a complete, valid config. The
// certificate files they name need not exist: Parse and Validate do not
// read them. plan's TestExamplesCheck goes on to plan.Check (what config
// validate runs), with throwaway files in place of those they name.
func TestExamples(t *testing.T) {
	t.Parallel()
	for _, path := range exampleFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Parse(path, data)
			if err != nil {
				t.Fatalf("Parse:\n%v", err)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate:\n%v", err)
			}
			if len(c.Sites) == 0 {
				t.Error("no sites")
			}
		})
	}
}
