package oaslint

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const goodSpec = "openapi: 3.0.3\ninfo: {title: x, version: '1'}\nservers: [{url: 'http://a.example'}]\npaths: {}\n"

func TestExpand(t *testing.T) {
	t.Parallel()
	dir := writeTree(t, map[string]string{
		"a.yaml":                    goodSpec,
		"b.json":                    `{"openapi": "3.0.3"}`,
		"notes.txt":                 "x",
		"sub/c.yml":                 goodSpec,
		"sub/deeper/d.yaml":         goodSpec,
		".git/e.yaml":               goodSpec,
		"node_modules/pkg/f.yaml":   goodSpec,
		"sub/deeper/g.YAML":         goodSpec,
		"sub/deeper/more/h.json":    `{}`,
		"other/k8s/deployment.yaml": "kind: Deployment\n",
	})
	rel := func(ins []Input) []string {
		var out []string
		for _, in := range ins {
			r, _ := filepath.Rel(dir, in.Path)
			if in.Found {
				r += " (found)"
			}
			out = append(out, filepath.ToSlash(r))
		}
		return out
	}
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{dir}, []string{"a.yaml (found)", "b.json (found)", "other/k8s/deployment.yaml (found)", "sub/c.yml (found)",
			"sub/deeper/d.yaml (found)", "sub/deeper/g.YAML (found)", "sub/deeper/more/h.json (found)"}},
		{[]string{filepath.Join(dir, "a.yaml"), filepath.Join(dir, "a.yaml"), filepath.Join(dir, "missing.yaml")}, []string{"a.yaml", "missing.yaml"}},
		{[]string{filepath.Join(dir, "*.yaml")}, []string{"a.yaml (found)"}},
		{[]string{filepath.Join(dir, "**", "*.yaml")}, []string{"a.yaml (found)", "other/k8s/deployment.yaml (found)", "sub/deeper/d.yaml (found)"}},
		{[]string{filepath.Join(dir, "sub", "**", "*.json")}, []string{"sub/deeper/more/h.json (found)"}},
		{[]string{filepath.Join(dir, "sub/deeper/*.[yY]*")}, []string{"sub/deeper/d.yaml (found)", "sub/deeper/g.YAML (found)"}},
	}
	for _, tc := range cases {
		got, err := Expand(tc.args)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if g := rel(got); !slices.Equal(g, tc.want) {
			t.Errorf("%q:\n got %q\nwant %q", tc.args, g, tc.want)
		}
	}
	if _, err := Expand([]string{filepath.Join(dir, "*.nothing")}); err == nil || !strings.Contains(err.Error(), "no files match") {
		t.Errorf("pattern without match: %v", err)
	}
	if _, err := Expand([]string{filepath.Join(dir, "[")}); err == nil {
		t.Errorf("bad pattern: no error")
	}
}

// TestLintFiles lints in parallel: reports keep the order of the inputs,
// files found in directories that are not OpenAPI are skipped, named ones
// and broken OpenAPI documents are errors.
func TestLintFiles(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"k8s.yaml":        "kind: Deployment\n",
		"broken.yaml":     "openapi: 3.0.3\ninfo: [\n",
		"helm/tmpl.yaml":  "{{ .Values.x }}: [\n",
		"fragment.yaml":   "Pet: {type: object}\n",
		"empty.json":      "",
		"badref.yaml":     "openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths: {/x: {$ref: '#/nope'}}\n",
		"z-last.yaml":     goodSpec,
		"many/0001.yaml":  goodSpec,
		"many/0002.json":  `{"swagger": "2.0", "info": {"title": "x", "version": "1"}, "host": "a.example", "schemes": ["http"], "paths": {}}`,
		"many/0003.yaml":  goodSpec,
		"many/0004.yaml":  goodSpec,
		"many/0005.yaml":  goodSpec,
		"many/0006.yaml":  goodSpec,
		"many/0007.yaml":  goodSpec,
		"many/0008.yaml":  goodSpec,
		"named-k8s.yaml":  "kind: Service\n",
		"many/0009.yaml":  goodSpec,
		"many/0010.yaml":  goodSpec,
		"many/0011.yaml":  goodSpec,
		"many/0012.yaml":  goodSpec,
		"many/0013.yaml":  goodSpec,
		"many/0014.yaml":  goodSpec,
		"many/0015.yaml":  goodSpec,
		"many/0016.yaml":  goodSpec,
		"many/0017.yaml":  goodSpec,
		"many/0018.yaml":  goodSpec,
		"many/0019.yaml":  goodSpec,
		"many/0020.yaml":  goodSpec,
		"many/0021.yaml":  goodSpec,
		"many/0022.yaml":  goodSpec,
		"many/0023.yaml":  goodSpec,
		"many/0024.yaml":  goodSpec,
		"many/0025.yaml":  goodSpec,
		"many/0026.yaml":  goodSpec,
		"many/0027.yaml":  goodSpec,
		"many/0028.yaml":  goodSpec,
		"many/0029.yaml":  goodSpec,
		"many/0030.yaml":  goodSpec,
		"many/0031.yaml":  goodSpec,
		"many/0032.yaml":  goodSpec,
		"other/readme.md": "x",
	}
	dir := writeTree(t, files)
	inputs, err := Expand([]string{dir, filepath.Join(dir, "named-k8s.yaml"), "-"})
	if err != nil {
		t.Fatal(err)
	}
	l := &Linter{Jobs: 4, Stdin: strings.NewReader(goodSpec)}
	reports := l.LintFiles(context.Background(), inputs)
	if len(reports) != len(inputs) {
		t.Fatalf("%d reports for %d inputs", len(reports), len(inputs))
	}
	status := map[string]string{}
	for i, r := range reports {
		if r.File != inputs[i].Path {
			t.Errorf("report %d is of %s, input %s", i, r.File, inputs[i].Path)
		}
		name, _ := filepath.Rel(dir, r.File)
		if r.File == "-" {
			name = "-"
		}
		switch {
		case r.Skipped:
			status[filepath.ToSlash(name)] = "skipped"
		case r.Err != nil:
			status[filepath.ToSlash(name)] = "error"
		default:
			status[filepath.ToSlash(name)] = "linted"
			if len(r.Findings) != 1 {
				t.Errorf("%s: %d findings", name, len(r.Findings))
			}
		}
	}
	for name, want := range map[string]string{
		"k8s.yaml": "skipped", "helm/tmpl.yaml": "skipped", "fragment.yaml": "skipped", "empty.json": "skipped",
		"broken.yaml": "error", "badref.yaml": "error", "named-k8s.yaml": "error",
		"z-last.yaml": "linted", "many/0002.json": "linted", "many/0032.yaml": "linted", "-": "linted",
	} {
		if status[name] != want {
			t.Errorf("%s: %s, want %s", name, status[name], want)
		}
	}
	s := Summarize(reports)
	if s.Linted != 34 || s.Skipped != 4 || s.Failed != 3 || s.Errors != 34 || s.Warnings != 0 {
		t.Errorf("summary %+v", s)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, r := range (&Linter{}).LintFiles(ctx, inputs[:3]) {
		if r.Err == nil {
			t.Errorf("%s: linted after the context ended", r.File)
		}
	}
}
