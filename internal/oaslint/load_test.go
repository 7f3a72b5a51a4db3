package oaslint

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadErrors: every malformed input is an error with its place, never
// a panic, never an empty lint.
func TestLoadErrors(t *testing.T) {
	t.Parallel()
	cases := []struct{ file, want string }{
		{"empty.yaml", `empty.yaml: empty file: want an OpenAPI document (openapi: 3.x or swagger: "2.0")`},
		{"comments.yaml", `comments.yaml: empty file`},
		{"kubernetes.yaml", `kubernetes.yaml:1:1: not an OpenAPI document: no openapi or swagger field at the top level`},
		{"asyncapi.yaml", `asyncapi.yaml:1:1: an AsyncAPI document, not OpenAPI`},
		{"list.yaml", `list.yaml:1:1: not an OpenAPI document: the top level is a list`},
		{"version.yaml", `version.yaml:1:10: unsupported OpenAPI version "4.0.0"`},
		{"indent.yaml", `indent.yaml:4: mapping values are not allowed in this context`},
		{"tab.yaml", `tab.yaml:4: found character that cannot start any token (a tab: YAML indents with spaces only)`},
		{"trailing-comma.json", `trailing-comma.json:5:1: invalid character '}' looking for beginning of object key string`},
		{"truncated.json", `truncated.json:1:51: unexpected end of JSON input`},
		{"duplicate.yaml", `duplicate.yaml:6:1: duplicate key "servers" (first at line 3, column 1)`},
		{"duplicate.json", `duplicate.json:1:77: duplicate key "paths" (first at line 1, column 64)`},
		{"two-documents.yaml", `two-documents.yaml:4:1: a second YAML document (after ---): a file holds one OpenAPI document`},
		{"undefined-alias.yaml", `undefined-alias.yaml:3: unknown anchor 'nowhere' referenced`},
		{"unresolved.yaml", `unresolved.yaml:8:17: $ref "#/components/responses/PetList" does not resolve: $.components.responses has no "PetList" (did you mean "PetsList"?)`},
		{"unresolved.yaml", `unresolved.yaml:10:17: $ref "missing.yaml#/NotFound": cannot read missing.yaml: no such file or directory`},
		{"cycle.yaml", `cycle.yaml:5:11: $ref "#/paths/~1b" leads to a cycle of $refs that never reaches a value`},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			doc, err := Load(filepath.Join("testdata/bad", tc.file))
			if err == nil {
				t.Fatalf("no error; document %+v", doc)
			}
			msg := strings.ReplaceAll(err.Error(), filepath.Join("testdata", "bad")+string(filepath.Separator), "")
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error:\n  %s\nwant it to contain:\n  %s", msg, tc.want)
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Errorf("%T is not a *LoadError", err)
			}
		})
	}
	_, err := Load("testdata/bad/nonexistent.yaml")
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "nonexistent.yaml: no such file or directory") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Load("testdata"); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}
}

// TestHostileYAML: aliases cost nothing however they multiply, and
// recursion and depth are bounded.
func TestHostileYAML(t *testing.T) {
	t.Parallel()
	laughs := "openapi: 3.0.3\ninfo: {title: lol, version: '1'}\npaths: {}\nx-a: &a [http://x, http://x, http://x, http://x, http://x, http://x, http://x, http://x, http://x]\n"
	prev := "a"
	for i := range 20 {
		name := string(rune('b' + i))
		laughs += "x-" + name + ": &" + name + " [" + strings.Repeat("*"+prev+", ", 9) + "*" + prev + "]\n"
		prev = name
	}
	laughs += "servers: *" + prev + "\n"
	doc, err := Parse("laughs.yaml", []byte(laughs))
	if err != nil {
		t.Fatal(err)
	}
	(&Linter{}).Lint(doc) // servers is a list of lists: nothing to find, and it must end

	deep := "openapi: 3.0.3\ninfo: {title: deep, version: '1'}\nx-deep: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\n"
	if _, err := Parse("deep.yaml", []byte(deep)); err == nil {
		t.Error("20000 levels of YAML: no error")
	}
	deepJSON := `{"openapi": "3.0.3", "x": ` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "}"
	if _, err := Parse("deep.json", []byte(deepJSON)); err == nil || !strings.Contains(err.Error(), "nesting deeper than 10000 levels") {
		t.Errorf("20000 levels of JSON: %v", err)
	}
	recursive := "openapi: 3.0.3\ninfo: {title: r, version: '1'}\npaths: {}\nx-r: &r\n  self: *r\n"
	if _, err := Parse("recursive.yaml", []byte(recursive)); err == nil {
		t.Error("recursive alias: no error")
	}
}

// TestPositions: lines and columns are 1-based, on the value, columns in
// characters, with CRLF line ends and a byte order mark, in JSON and YAML.
func TestPositions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, src string
		line, col int
	}{
		{"a.yaml", "openapi: 3.0.3\ninfo: {title: x, version: '1'}\nservers:\n  - url: http://a.example\npaths: {}\n", 4, 10},
		{"crlf.yaml", "openapi: 3.0.3\r\ninfo: {title: x, version: '1'}\r\nservers:\r\n  - url: http://a.example\r\npaths: {}\r\n", 4, 10},
		{"bom.yaml", "\ufeffopenapi: 3.0.3\ninfo: {title: x, version: '1'}\nservers: [{url: http://a.example}]\npaths: {}\n", 3, 17},
		{"utf8.yaml", "openapi: 3.0.3\ninfo: {title: x, version: '1'}\nservers: [{description: 日本語, url: http://a.example}]\npaths: {}\n", 3, 35},
		{"quoted.yaml", "openapi: 3.0.3\ninfo: {title: x, version: '1'}\nservers:\n  - url: \"http://a.example\"\npaths: {}\n", 4, 10},
		{"block.yaml", "openapi: 3.0.3\ninfo: {title: x, version: '1'}\nservers:\n  - url: >-\n      http://a.example\npaths: {}\n", 4, 10},
		{"a.json", "{\"openapi\": \"3.0.3\",\n \"servers\": [{\"description\": \"日本語\", \"url\": \"http://a.example\"}]}", 2, 44},
		{"crlf.json", "{\"openapi\": \"3.0.3\",\r\n\r\n \"servers\": [{\"url\": \"http://a.example\"}]}", 3, 22},
		{"yaml-named.json", "openapi: 3.0.3\nservers: [{url: http://a.example}]\n", 2, 17},
		{"flow.yaml", "{openapi: 3.0.3, servers: [{url: http://a.example}]}", 1, 34},
	}
	for _, tc := range cases {
		doc, err := Parse(tc.name, []byte(tc.src))
		if strings.HasSuffix(tc.name, "yaml-named.json") {
			// A .json file is JSON: no fallback to YAML.
			if err == nil {
				t.Errorf("%s: YAML in a .json file parsed", tc.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		rep := (&Linter{}).Lint(doc)
		if len(rep.Findings) != 1 {
			t.Errorf("%s: findings %+v", tc.name, rep.Findings)
			continue
		}
		if f := rep.Findings[0]; f.Line != tc.line || f.Column != tc.col {
			t.Errorf("%s: finding at %d:%d, want %d:%d", tc.name, f.Line, f.Column, tc.line, tc.col)
		}
	}
}

// TestJSONParser compares the parser with encoding/json on what is valid
// JSON, and checks the values it reads.
func TestJSONParser(t *testing.T) {
	t.Parallel()
	inputs := []string{
		`{}`, `[]`, `{"a":1}`, ` {"a" : [1, -2.5e10, 0, 0.1, 1E+2, true, false, null, "x"]} `,
		`{"a":"\u00e9\ud83d\ude00\"\\\/\b\f\n\r\t"}`, `{"a":"\ud800"}`, `{"a":"\ud800\u0041"}`,
		`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":tru}`, `{"a":nul}`, `{"a" 1}`,
		`{"a":1,}`, `[1,]`, `[1 2]`, `{"a":"\x"}`, `{"a":"\u12"}`, "{\"a\":\"\x01\"}", `{"a":1}}`, `{a:1}`,
		`{"a":[1,2,{"b":null}]}`, `"just a string"`, `12`, `{"a":"b"`, `[`, `{"a":"\u00"}`, "{\"a\":\"\xff\"}",
		`{"a":-0}`, `{"a":-01}`, `{"a":1e+}`, `{"a": [ ] }`, "\t{\"a\":1}\n",
	}
	for _, in := range inputs {
		root, err := parseJSON(in)
		if valid := json.Valid([]byte(in)); valid != (err == nil) {
			t.Errorf("%q: parse error %v, encoding/json says valid=%v", in, err, valid)
			continue
		}
		if err != nil {
			continue
		}
		want := decodeJSON(t, []byte(in))
		got := toAny(root)
		wb, _ := json.Marshal(want)
		gb, _ := json.Marshal(got)
		if string(wb) != string(gb) {
			t.Errorf("%q: read %s, encoding/json reads %s", in, gb, wb)
		}
	}
}

func decodeJSON(t testing.TB, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// validUTF8 replaces each invalid byte with U+FFFD, as encoding/json does.
func validUTF8(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r) // an invalid byte ranges as utf8.RuneError
	}
	return b.String()
}

// toAny turns nodes into the values encoding/json decodes (numbers as
// json.Number).
func toAny(n *node) any {
	switch n.kind {
	case mappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.content); i += 2 {
			m[validUTF8(n.content[i].value)] = toAny(&n.content[i+1])
		}
		return m
	case sequenceNode:
		l := []any{}
		for i := range n.content {
			l = append(l, toAny(&n.content[i]))
		}
		return l
	}
	switch n.tag {
	case tagNum:
		return json.Number(n.value)
	case tagBool:
		return n.value == "true"
	case tagNull:
		return nil
	}
	return validUTF8(n.value)
}

// TestMultiFile follows $refs to other files: findings are reported in
// the file where the value is written.
func TestMultiFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("api.yaml", "openapi: 3.0.3\ninfo: {title: x, version: '1'}\nservers: [{url: 'https://a.example'}]\npaths:\n  /x:\n    $ref: 'sub dir/x%20item.yaml'\n")
	write("sub dir/x item.yaml", "get:\n  servers: [{url: 'http://b.example'}]\n  responses: {'200': {$ref: '../shared.json#/Ok'}}\n")
	write("shared.json", `{"Ok": {"description": "ok", "links": {"l": {"server": {"url": "http://c.example"}}}}}`)
	rep := lintFile(t, &Linter{}, filepath.Join(dir, "api.yaml"))
	diffLines(t, findingLines(t, dir, rep.Findings), []string{
		"shared.json:1:64 server-https $.Ok.links.l.server.url",
		"sub dir/x item.yaml:2:19 server-https $.get.servers[0].url",
	})
	write("broken.yaml", "openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths:\n  /x:\n    $ref: 'bad.yaml'\n")
	write("bad.yaml", "get: [unclosed\n")
	_, err := Load(filepath.Join(dir, "broken.yaml"))
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:1: did not find expected ',' or ']'") || !strings.Contains(err.Error(), `(in the file that $ref "bad.yaml" at `) {
		t.Errorf("broken $ref'd file: %v", err)
	}
}
