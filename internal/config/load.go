package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

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
// Every problem found is returned, joined, each as an *Error: those of
// decoding (unknown keys, wrongly typed values) together with those
// Validate finds in what did decode.
func Load(path string) (*Config, error) {
	c, err := LoadAll(path)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// LoadAll is Load, except that with problems it also returns the config as
// far as it decoded (nil only when the file could not be read or decoded
// at all: a YAML syntax error, an empty file, too many aliases). Such a
// config is not valid: use it only to look for more problems, as
// `tlsgate config validate` does with the sites that have none.
func LoadAll(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return ParseAll(path, data)
}

// ParseAll is Parse then Validate, going on past problems as LoadAll
// does: when keys are unknown or values wrongly typed, those are left out
// (wrong values as if not set), the rest is decoded, defaulted and
// validated, and every problem of both stages is returned, joined. A
// problem Validate finds only because of one already reported (a value
// that is required, left out for its wrong type, or set under a misspelt
// key) is not repeated.
func ParseAll(file string, data []byte) (*Config, error) {
	c, perrs, skip := parse(file, data)
	if c == nil {
		return nil, errors.Join(perrs...)
	}
	errs := perrs
	if err := c.Validate(); err != nil {
		for _, e := range unjoin(err) {
			if ce, ok := e.(*Error); ok && len(perrs) > 0 && under(ce.Path, skip) {
				continue
			}
			errs = append(errs, e)
		}
	}
	return c, errors.Join(errs...)
}

// under reports whether path is, or is inside, one of paths.
func under(path string, paths []string) bool {
	for _, p := range paths {
		if path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return true
		}
	}
	return false
}

// unjoin returns the errors joined in err, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// Parse decodes data (named file in errors) strictly and applies defaults,
// without validating. data is one YAML document; anchors, aliases and merge
// keys (<<: *defaults) may be used. Every unknown key, repeated key and
// wrongly typed value is returned, joined, each as an *Error at its line
// and column.
func Parse(file string, data []byte) (*Config, error) {
	c, errs, _ := parse(file, data)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// parse is Parse, returning with its problems the config decoded without
// the keys and values at fault (nil when nothing could be decoded) and the
// paths of those left out, for Validate's problems there not to be
// repeated.
func parse(file string, data []byte) (*Config, []error, []string) {
	src := &source{file: file, byPath: map[string]pos{}}
	empty := &Error{File: file, Msg: "the file is empty: a config needs at least one site (see examples/ for a start)"}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, []error{empty}, nil
		}
		return nil, yamlSyntaxErrors(file, data, err), nil
	}
	// yaml.Unmarshal would silently ignore everything after a second "---".
	var next yaml.Node
	if err := dec.Decode(&next); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlSyntaxErrors(file, data, err), nil
	} else if err == nil && len(next.Content) > 0 && !isNull(next.Content[0]) {
		return nil, []error{&Error{File: file, Line: next.Line, Column: next.Column,
			Msg: "a second YAML document: a config is one document (remove this ---, or merge the two)"}}, nil
	}
	if len(root.Content) == 0 || isNull(root.Content[0]) {
		return nil, []error{empty}, nil
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, []error{&Error{File: file, Line: doc.Line, Column: doc.Column, Msg: "the top level must be a mapping of keys such as listen: and sites:"}}, nil
	}
	w := &walker{src: src, merged: map[mergeVisit]bool{}, open: map[*yaml.Node]bool{},
		badKeys: map[*yaml.Node]bool{}, badValues: map[*yaml.Node]bool{}}
	w.walk(doc, "", reflect.TypeOf(Config{}))
	if len(w.errs) > 0 {
		if w.stopped {
			return nil, w.errs, nil
		}
		// Decode the rest: without the keys at fault, and with the
		// values at fault as if not set.
		prune(doc, w.badKeys, w.badValues, map[*yaml.Node]bool{})
		var c Config
		if err := doc.Decode(&c); err != nil {
			return nil, w.errs, nil
		}
		c.src = src
		c.Defaults()
		return &c, w.errs, w.skip
	}
	// walk has checked every key and value; decoding should not fail, but
	// if the decoder disagrees, say so rather than lose the problem.
	var c Config
	sdec := yaml.NewDecoder(bytes.NewReader(data))
	sdec.KnownFields(true)
	if err := sdec.Decode(&c); err != nil {
		return nil, unjoin(typeErrors(src, err)), nil
	}
	c.src = src
	c.Defaults()
	return &c, nil, nil
}

// prune removes from the tree at n the key-value pairs whose key is in
// badKeys and empties the values in badValues, so that what is left
// decodes.
func prune(n *yaml.Node, badKeys, badValues, seen map[*yaml.Node]bool) {
	if seen[n] {
		return
	}
	seen[n] = true
	if badValues[n] {
		*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
		return
	}
	if n.Kind == yaml.MappingNode {
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			if !badKeys[n.Content[i]] {
				kept = append(kept, n.Content[i], n.Content[i+1])
			}
		}
		n.Content = kept
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		prune(n.Alias, badKeys, badValues, seen)
	}
	for _, c := range n.Content {
		prune(c, badKeys, badValues, seen)
	}
}

// Aliases can make a small file expand to billions of values ("billion
// laughs"). walk stops, as yaml.v3's decoder would, once too large a share
// of the values it has visited came through aliases.
func tooManyAliases(values, aliased int) bool {
	if aliased <= 100 || values <= 1000 {
		return false
	}
	// yaml.v3's allowedAliasRatio: 99% up to 400,000 values, falling to
	// 10% at 4,000,000.
	ratio := 0.10
	switch {
	case values <= 400_000:
		ratio = 0.99
	case values < 4_000_000:
		ratio = 0.99 - 0.89*float64(values-400_000)/3_600_000
	}
	return float64(aliased)/float64(values) > ratio
}

// walker records the position of every value and reports, all at once,
// keys the struct does not have (with a suggestion when one is close),
// repeated keys, and values of the wrong type, each at its own line and
// column. yaml.v3's own type errors carry only a line, which is ambiguous
// in flow style ({idle: 1x, shutdown: 5s}).
type walker struct {
	src    *source
	errs   []error
	merged map[mergeVisit]bool
	open   map[*yaml.Node]bool // mappings being walked, to catch a merge of an enclosing one

	badKeys   map[*yaml.Node]bool // keys at fault: unknown, repeated, not plain
	badValues map[*yaml.Node]bool // values of the wrong type
	skip      []string            // paths left out: wrongly typed, or meant by a misspelt key

	values     int  // values visited
	aliased    int  // of which reached through an alias
	aliasDepth int  // > 0 while under an alias
	stopped    bool // too many aliases: errs has said so
}

// mergeVisit is a mapping merged (<<) at a path. Merging it again there
// adds nothing, and a mapping that merges itself would recurse forever.
type mergeVisit struct {
	n    *yaml.Node
	path string
}

var durationType = reflect.TypeOf(time.Duration(0))

func (w *walker) errorf(n *yaml.Node, path, format string, args ...any) {
	w.errs = append(w.errs, &Error{File: w.src.file, Line: n.Line, Column: n.Column, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (w *walker) walk(n *yaml.Node, path string, t reflect.Type) {
	if w.stopped {
		return
	}
	if n.Kind == yaml.AliasNode {
		w.aliasDepth++
		defer func() { w.aliasDepth-- }()
	}
	w.values++
	if w.aliasDepth > 0 {
		w.aliased++
	}
	if tooManyAliases(w.values, w.aliased) {
		w.errorf(n, path, "aliases (*name) expand to too many values: write them out, or alias less deeply")
		w.stopped = true
		return
	}
	n = resolve(n)
	w.src.byPath[path] = pos{n.Line, n.Column}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if isNull(n) { // an empty value is the zero value: the default
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.typeError(n, path, t)
			return
		}
		w.mapping(n, path, t)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.typeError(n, path, t)
			return
		}
		for i, item := range n.Content {
			w.walk(item, fmt.Sprintf("%s[%d]", path, i), t.Elem())
		}
	default:
		if n.Kind != yaml.ScalarNode {
			w.typeError(n, path, t)
			return
		}
		// yaml.v3 truncates 1.5 to 1 for an int; refuse instead.
		if t.Kind() == reflect.Int && n.ShortTag() == "!!float" {
			w.typeError(n, path, t)
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			w.typeError(n, path, t)
		}
	}
}

func (w *walker) mapping(n *yaml.Node, path string, t reflect.Type) {
	w.open[n] = true
	defer delete(w.open, n)
	fields := yamlFields(t)
	seen := map[string]int{} // key -> line
	keep := make([]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode {
			w.errorf(k, path, "a key must be a plain name (known keys here: %s)", knownKeys(fields))
			w.badKeys[k] = true
			continue
		}
		if line, dup := seen[k.Value]; dup {
			w.errorf(k, join(path, k.Value), "%q is already set on line %d", k.Value, line)
			w.badKeys[k] = true
			continue
		}
		seen[k.Value] = k.Line
		keep[i/2] = true
	}
	// Merged keys first, so that keys written here override them, as they
	// do when decoding, and their positions win.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], n.Content[i+1]; keep[i/2] && isMerge(k) {
			if !w.merge(v, path, t) {
				w.badKeys[k] = true
			}
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !keep[i/2] || isMerge(k) || w.stopped {
			continue
		}
		w.values++ // count keys as yaml.v3 does, for the same alias ratio
		if w.aliasDepth > 0 {
			w.aliased++
		}
		ft, ok := fields[k.Value]
		if !ok {
			msg, meant := unknownKeyMsg(k.Value, fields)
			w.errorf(k, join(path, k.Value), "%s", msg)
			w.badKeys[k] = true
			if meant != "" {
				w.skip = append(w.skip, join(path, meant))
			}
			continue
		}
		w.walk(v, join(path, k.Value), ft)
	}
}

// merge walks the value of a "<<" key: a mapping or a list of mappings
// whose keys land in the enclosing mapping.
// It reports whether the value could be merged.
func (w *walker) merge(v *yaml.Node, path string, t reflect.Type) bool {
	ok := true
	items := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode { // a list of mappings, not an alias of one
		items = v.Content
	}
	for _, item := range items {
		m := resolve(item)
		if m.Kind != yaml.MappingNode {
			w.errorf(item, join(path, "<<"), "a merge (<<) takes a mapping, such as *defaults, or a list of them")
			ok = false
			continue
		}
		if w.open[m] {
			w.errorf(item, join(path, "<<"), "*%s merges a mapping that contains it", item.Value)
			ok = false
			continue
		}
		if w.merged[mergeVisit{m, path}] {
			continue
		}
		w.merged[mergeVisit{m, path}] = true
		if item.Kind == yaml.AliasNode {
			w.aliasDepth++
		}
		w.mapping(m, path, t)
		if item.Kind == yaml.AliasNode {
			w.aliasDepth--
		}
	}
	return ok
}

func (w *walker) typeError(n *yaml.Node, path string, t reflect.Type) {
	var got string
	switch n.Kind {
	case yaml.MappingNode:
		got = "a mapping"
	case yaml.SequenceNode:
		got = "a list"
	default:
		got = fmt.Sprintf("%s %q", describeTag(strings.TrimPrefix(n.ShortTag(), "!!")), n.Value)
	}
	msg := fmt.Sprintf("expected %s, got %s", describeType(t.String()), got)
	if t == durationType && n.ShortTag() == "!!int" {
		msg += fmt.Sprintf(" (%ss for seconds?)", n.Value)
	}
	w.errorf(n, path, "%s", msg)
	w.badValues[n] = true
	w.skip = append(w.skip, path)
}

// resolve follows an alias (*name) to its anchored value.
func resolve(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// isNull reports whether n is an empty value (key: with nothing after it,
// ~ or null). "!!null x" is not: the decoder refuses it.
func isNull(n *yaml.Node) bool {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!null" {
		return false
	}
	switch n.Value {
	case "", "~", "null", "Null", "NULL":
		return true
	}
	return false
}

func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge"
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

// unknownKeyMsg says key is unknown, suggesting meant when one is close.
func unknownKeyMsg(key string, fields map[string]reflect.Type) (msg, meant string) {
	best, bestD := "", 3
	for n := range fields {
		if d := editDistance(strings.ToLower(key), n); d < bestD || d == bestD && n < best {
			best, bestD = n, d
		}
	}
	// Suggest only close matches: at most two edits, and fewer than half
	// the key, so that "foo" does not become "log".
	if best != "" && 2*bestD < len(key) {
		return fmt.Sprintf("unknown key %q (did you mean %q?)", key, best), best
	}
	return fmt.Sprintf("unknown key %q (known keys here: %s)", key, knownKeys(fields)), ""
}

func knownKeys(fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of adjacent characters
// ("tsl" for "tls") each cost one.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
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

var unmarshalRE = regexp.MustCompile("cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)")

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
			e.Msg = fmt.Sprintf("expected %s, got %s", describeType(u[3]), describeTag(u[1]))
			if u[2] != "" {
				e.Msg += fmt.Sprintf(" %q", u[2])
			}
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

// Position returns where the value of path (or its nearest enclosing key
// that has a position) is written, as "file:line", or "" for a config
// built in code.
func (c *Config) Position(path string) string {
	e := c.Errorf(path, "")
	if e.File == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d", e.File, e.Line)
}

// File is the path the config was loaded from, or "" for one built in code.
func (c *Config) File() string {
	if c.src == nil {
		return ""
	}
	return c.src.file
}

// yamlSyntaxErrors explains a YAML syntax error of data. yaml.v3 reports
// the line where the enclosing block starts ("line 3: did not find
// expected key" for a key misindented on line 6), with no column, and
// calls a tab "a character that cannot start any token". So tabs in the
// indentation are found here, each reported at its place, and the line at
// fault is found as the first line that the file cannot be cut after.
func yamlSyntaxErrors(file string, data []byte, err error) []error {
	var errs []error
	lines := strings.SplitAfter(string(data), "\n")
	for i, l := range lines {
		indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		rest := strings.TrimSpace(l)
		if t := strings.IndexByte(indent, '\t'); t >= 0 && rest != "" && !strings.HasPrefix(rest, "#") {
			errs = append(errs, &Error{File: file, Line: i + 1, Column: t + 1,
				Msg: "a tab in the indentation: YAML indents with spaces (replace the tab with spaces, as many as the lines around it use)"})
		}
	}
	e := yamlSyntaxError(file, err).(*Error)
	if line, col, ok := badLine(lines, e.Msg); ok {
		e.Line, e.Column = line, col
		if strings.Contains(e.Msg, "expected key") || strings.Contains(e.Msg, "indicator") ||
			strings.Contains(e.Msg, "mapping values are not allowed") || strings.Contains(e.Msg, "indentation") {
			e.Msg += " (is this line indented as far as the keys it belongs with? YAML nests by indentation)"
		}
	}
	if len(errs) == 0 || e.Line > 0 && e.Line < errs[0].(*Error).Line {
		errs = append([]error{e}, errs...)
	}
	return errs
}

// maxBisectLines bounds badLine's work (one parse per line).
const maxBisectLines = 5000

// badLine finds the first line after which the file no longer parses with
// the same error as the whole (msg, as yamlSyntaxError words it), and the
// column where its text starts. A valid block-style file cut after any
// line still parses, so that is where the problem is.
func badLine(lines []string, msg string) (line, col int, ok bool) {
	if len(lines) > maxBisectLines {
		return 0, 0, false
	}
	var b strings.Builder
	for i, l := range lines {
		b.WriteString(l)
		var n yaml.Node
		err := yaml.Unmarshal([]byte(b.String()), &n)
		if err == nil {
			continue
		}
		if yamlSyntaxError("", err).(*Error).Msg != msg {
			continue // a flow collection cut in the middle, say
		}
		return i + 1, len(l) - len(strings.TrimLeft(l, " \t")) + 1, true
	}
	return 0, 0, false
}
