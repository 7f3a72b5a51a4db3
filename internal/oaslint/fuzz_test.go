package oaslint

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addSeeds adds every fixture under testdata (rules and bad inputs) to a
// fuzz target's corpus, and fails if there are none.
func addSeeds(f *testing.F, add func(name string, data []byte)) {
	n := 0
	for _, dir := range []string{"testdata/rules", "testdata/bad"} {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			add(p, data)
			n++
			return nil
		})
		if err != nil {
			f.Fatal(err)
		}
	}
	if n < 20 {
		f.Fatalf("seed corpus has %d files; want the fixtures of testdata/rules and testdata/bad", n)
	}
}

// FuzzLoad feeds the loader arbitrary documents: it must return a
// document or an error, never panic, and the linter and Routes must cope
// with whatever it returns.
func FuzzLoad(f *testing.F) {
	addSeeds(f, func(name string, data []byte) { f.Add(filepath.Ext(name) == ".json", data) })
	f.Add(false, []byte("openapi: 3.1.0\nservers: &s [{url: 'http://{a}', variables: {a: {default: x, enum: [*s]}}}]\npaths: {/x: {get: {servers: *s}}}\n"))
	f.Add(true, []byte(`{"swagger":"2.0","schemes":["http"],"host":"u:p@localhost","paths":{"/a":{"$ref":"#/paths/~1a"}}}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, isJSON bool, data []byte) {
		name := filepath.Join(dir, "fuzz.yaml")
		if isJSON {
			name = filepath.Join(dir, "fuzz.json")
		}
		doc, err := Parse(name, data)
		if err != nil {
			if strings.Contains(err.Error(), "internal error") {
				t.Fatalf("the parser panicked: %v", err)
			}
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		rep := (&Linter{}).Lint(doc)
		for _, fd := range rep.All() {
			if fd.Line < 1 || fd.Column < 1 || fd.File == "" || fd.Rule == "" || fd.Message == "" || !strings.HasPrefix(fd.Path, "$") {
				t.Fatalf("bad finding %+v", fd)
			}
		}
		ops, _ := Operations(doc)
		for _, o := range ops {
			if o.Method == "" || !strings.HasPrefix(o.Path, "/") || o.File == "" || o.Line < 1 || o.ClientAuth == "" {
				t.Fatalf("bad operation %+v", o)
			}
		}
	})
}

// FuzzJSON checks the JSON parser against encoding/json: the same inputs
// are valid (but for duplicate keys, which the parser rejects) and read
// as the same values.
func FuzzJSON(f *testing.F) {
	addSeeds(f, func(name string, data []byte) {
		if filepath.Ext(name) == ".json" {
			f.Add(data)
		}
	})
	for _, s := range []string{`{"a":[1,-2.5e-3,true,null,"\u00e9\ud83d\ude00"]}`, `[{}]`, `"x"`, `{"a":1,"a":2}`, `01`, "[1,\n2]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		root, err := parseJSON(string(data))
		valid := json.Valid(data)
		if err != nil {
			if valid && !strings.Contains(err.Error(), "duplicate key") {
				t.Fatalf("valid JSON rejected: %v", err)
			}
			if se, ok := err.(*syntaxError); !ok || se.off < 0 || int(se.off) > len(data) {
				t.Fatalf("error %v has no offset in the input", err)
			}
			return
		}
		if !valid {
			t.Fatalf("invalid JSON accepted: %q", data)
		}
		wb, _ := json.Marshal(decodeJSON(t, data))
		gb, _ := json.Marshal(toAny(root))
		if string(wb) != string(gb) {
			t.Fatalf("read %s, encoding/json reads %s", gb, wb)
		}
	})
}
