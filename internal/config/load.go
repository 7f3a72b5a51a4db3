package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is a problem at a place in a config file. Error() reads like
// "tlsgate.yaml:14:7: sites[0].routes[2].upstreams[0]: must be a URL ...".
type Error struct {
	File   string // empty for configs built in code
	Line   int    // 1-based; 0 when unknown
	Column int    // 1-based; 0 when unknown
	Path   string // key path, e.g. sites[0].hosts[1]; empty for the whole file
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
			if e.Column > 0 {
				fmt.Fprintf(&b, ":%d", e.Column)
			}
		}
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// pos is a place in the source file.
type pos struct{ line, col int }

// source remembers the file a Config came from and where each value stood.
type source struct {
	file   string
	byPath map[string]pos
}

// Load reads, strictly decodes, defaults and validates the config at path.
// Every problem found is returned, joined, each as an *Error.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	c, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Parse decodes data (named file in errors) strictly and applies defaults,
// without validating.
func Parse(file string, data []byte) (*Config, error) {
	src := &source{file: file, byPath: map[string]pos{}}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlSyntaxError(file, err)
	}
	if len(root.Content) == 0 {
		return nil, &Error{File: file, Msg: "the file is empty: a config needs at least one site (see examples/ for a start)"}
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, &Error{File: file, Line: doc.Line, Column: doc.Column, Msg: "the top level must be a mapping of keys such as listen: and sites:"}
	}
	var errs []error
	walk(doc, "", reflect.TypeOf(Config{}), src, &errs)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, typeErrors(src, err)
	}
	c.src = src
	c.Defaults()
	return &c, nil
}

// walk records the position of every value and reports keys the struct does
// not have, with a suggestion when one is close.
func walk(n *yaml.Node, path string, t reflect.Type, src *source, errs *[]error) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	src.byPath[path] = pos{n.Line, n.Column}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" { // YAML merge key: its fields land here
				walk(v, path, t, src, errs)
				continue
			}
			ft, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, &Error{File: src.file, Line: k.Line, Column: k.Column, Path: join(path, k.Value),
					Msg: unknownKeyMsg(k.Value, fields)})
				continue
			}
			walk(v, join(path, k.Value), ft, src, errs)
		}
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, item := range n.Content {
			walk(item, fmt.Sprintf("%s[%d]", path, i), t.Elem(), src, errs)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		m[name] = f.Type
	}
	return m
}

func unknownKeyMsg(key string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	best, bestD := "", 3 // suggest only close matches
	for n := range fields {
		names = append(names, n)
		if d := editDistance(strings.ToLower(key), n); d < bestD {
			best, bestD = n, d
		}
	}
	sort.Strings(names)
	if best != "" {
		return fmt.Sprintf("unknown key %q (did you mean %q?)", key, best)
	}
	return fmt.Sprintf("unknown key %q (known keys here: %s)", key, strings.Join(names, ", "))
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

func yamlSyntaxError(file string, err error) error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &Error{File: file, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

var unmarshalRE = regexp.MustCompile("cannot unmarshal !!(\\w+) `?(.*?)`? into (\\S+)")

// typeErrors turns yaml.v3's "line 7: cannot unmarshal !!str `abc` into int"
// into positioned errors that say what was expected.
func typeErrors(src *source, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return yamlSyntaxError(src.file, err)
	}
	var errs []error
	for _, s := range te.Errors {
		m := yamlLineRE.FindStringSubmatch(s)
		if m == nil {
			errs = append(errs, &Error{File: src.file, Msg: s})
			continue
		}
		line, _ := strconv.Atoi(m[1])
		e := &Error{File: src.file, Line: line, Msg: m[2]}
		e.Path, e.Column = src.pathAtLine(line)
		if u := unmarshalRE.FindStringSubmatch(m[2]); u != nil {
			e.Msg = fmt.Sprintf("expected %s, got %s %q", describeType(u[3]), describeTag(u[1]), u[2])
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

func describeType(goType string) string {
	switch {
	case goType == "time.Duration":
		return "a duration such as 10s or 2m"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case goType == "int" || goType == "*int":
		return "a whole number"
	case goType == "bool" || goType == "*bool":
		return "true or false"
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "config."):
		return "a mapping of keys"
	}
	return goType
}

func describeTag(tag string) string {
	switch tag {
	case "str":
		return "the text"
	case "int", "float":
		return "the number"
	case "map":
		return "a mapping"
	case "seq":
		return "a list"
	case "bool":
		return "the boolean"
	}
	return tag
}

// pathAtLine finds the deepest key path whose value starts on line.
func (s *source) pathAtLine(line int) (string, int) {
	best, col := "", 0
	for p, at := range s.byPath {
		if at.line == line && len(p) > len(best) {
			best, col = p, at.col
		}
	}
	return best, col
}

// Errorf returns an *Error positioned at the value of path (or its nearest
// enclosing key that has a position). Stages after Load use it so that, for
// example, a certificate problem names the line of its cert: key.
func (c *Config) Errorf(path, format string, args ...any) *Error {
	e := &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
	if c.src == nil {
		return e
	}
	e.File = c.src.file
	for p := path; ; {
		if at, ok := c.src.byPath[p]; ok {
			e.Line, e.Column = at.line, at.col
			break
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return e
}

// File is the path the config was loaded from, or "" for one built in code.
func (c *Config) File() string {
	if c.src == nil {
		return ""
	}
	return c.src.file
}
