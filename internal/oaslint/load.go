package oaslint

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unsafe"
)

// MaxFileSize bounds each file read. The largest public OpenAPI documents
// (Microsoft Graph) are about 50 MB; a file 5 times that is a mistake, and
// parsing it would take several GB of memory.
const MaxFileSize = 256 << 20

// maxRefFiles bounds the files $refs may bring in, against a document
// that names thousands of files.
const maxRefFiles = 1000

// maxRefErrors is how many unresolved $refs are listed before "and N more".
const maxRefErrors = 20

// A LoadError is a problem that stops a file from being linted: it cannot
// be read or parsed, it is not an OpenAPI document, or a $ref in it does
// not resolve. Line and Column are 1-based; Column is 0 when the parser
// gives only the line, and Line is 0 when the problem has no place in the
// file (it cannot be read).
type LoadError struct {
	File   string
	Line   int
	Column int
	Msg    string
	Err    error // the cause, if any (such as an *fs.PathError)

	notOpenAPI bool // parsed, but not an OpenAPI document (or empty)
	inDocument bool // found in an OpenAPI document (a $ref that does not resolve)
}

func (e *LoadError) Error() string {
	switch {
	case e.Line == 0:
		return e.File + ": " + e.Msg
	case e.Column == 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

func (e *LoadError) Unwrap() error { return e.Err }

// A Document is a parsed OpenAPI document with the files its $refs name,
// every local and relative-file $ref resolved. It is read-only once
// loaded: any number of goroutines may lint it at once.
type Document struct {
	// File is the path the document was loaded from, as given.
	File string
	// Version is the value of the document's openapi field ("3.1.0"), or
	// of its swagger field ("2.0").
	Version string

	major, minor int
	root         *file
	files        map[string]*file // by absolute path
	refs         map[refKey]refTarget
	remote       []remoteRef
	ignores      map[*node]*ignoreSite // by the identity of the mapping that holds x-tlsgate-ignore
	sites        []*ignoreSite
}

type refKey struct {
	f   *file
	ref string
}

// refTarget is where a $ref leads: a node of a file, and its path there.
type refTarget struct {
	f    *file
	n    *node
	path *seg
}

// remoteRef is a $ref to a URL: not fetched, but checked for http.
type remoteRef struct {
	f    *file
	path *seg // of the $ref value
	ref  string
}

// ignoreSite is one x-tlsgate-ignore extension.
type ignoreSite struct {
	f     *file
	path  *seg     // of the mapping that holds it
	off   int32    // of the x-tlsgate-ignore key
	rules []string // as written
	index []int    // of each rule in the list, or -1 for a single id
	bad   []badIgnore
}

type badIgnore struct {
	index int // in the list, or -1
	msg   string
}

// Load reads and parses the OpenAPI document at path, with the files its
// $refs name. The error is a *LoadError, or several joined (unresolved
// $refs are all listed).
func Load(path string) (*Document, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, &LoadError{File: path, Msg: readMsg(err), Err: err}
	}
	// The bytes are ours: the source shares them, unlike Parse's.
	return parse(path, unsafe.String(unsafe.SliceData(data), len(data)))
}

// Parse parses data as the OpenAPI document named name. Relative $refs
// are resolved against the directory of name ("-" for standard input: the
// working directory).
func Parse(name string, data []byte) (*Document, error) {
	return parse(name, string(data))
}

func parse(name, src string) (doc *Document, err error) {
	defer func() {
		// The parsers are fuzzed; this is the last line of defence, so
		// that a bad file is an error of that file, never a crash.
		if r := recover(); r != nil {
			doc, err = nil, &LoadError{File: name, Msg: fmt.Sprintf("internal error while parsing (a bug: please report it with the file): %v", r)}
		}
	}()
	abs := name
	if name == "-" {
		abs = "stdin"
	}
	if a, err := filepath.Abs(abs); err == nil {
		abs = a
	}
	l := &loader{doc: &Document{
		File:    name,
		files:   map[string]*file{},
		refs:    map[refKey]refTarget{},
		ignores: map[*node]*ignoreSite{},
	}}
	f, err := parseFile(name, abs, src)
	if err != nil {
		return nil, err
	}
	l.doc.root = f
	l.doc.files[abs] = f
	if err := l.checkRoot(f); err != nil {
		return nil, err
	}
	l.queue = append(l.queue, f)
	for len(l.queue) > 0 {
		f := l.queue[0]
		l.queue = l.queue[1:]
		l.scan(f, f.root, false, false)
	}
	if len(l.errs) > 0 {
		if l.more > 0 {
			l.errs = append(l.errs, &LoadError{File: name, Msg: fmt.Sprintf("and %d more unresolved $refs", l.more)})
		}
		return nil, errors.Join(l.errs...)
	}
	return l.doc, nil
}

func readFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, errors.New("is a directory")
	}
	if fi.Size() > MaxFileSize {
		return nil, fmt.Errorf("larger than %d MiB", MaxFileSize>>20)
	}
	return os.ReadFile(path)
}

// readMsg words a read error without repeating the path.
func readMsg(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// parseFile parses JSON or YAML. JSON is recognised by its first
// character, so that a .yaml file holding JSON gets the fast parser; a
// file that fails as JSON but is not named .json gets a second chance as
// YAML (a flow mapping is YAML that starts with '{' too).
func parseFile(name, abs, src string) (*file, error) {
	f := &file{name: name, abs: abs, src: strings.TrimPrefix(src, "\ufeff")}
	trimmed := strings.TrimLeft(f.src, " \t\r\n")
	isJSONName := strings.EqualFold(filepath.Ext(name), ".json")
	if trimmed == "" {
		return f, nil
	}
	var err error
	if c := trimmed[0]; c == '{' || c == '[' || isJSONName {
		f.root, err = parseJSON(f.src)
		if err != nil && !isJSONName {
			if root, yerr := parseYAML(f); yerr == nil {
				f.root, err = root, nil
			}
		}
	} else {
		f.root, err = parseYAML(f)
	}
	if err != nil {
		return nil, f.loadError(err)
	}
	return f, nil
}

// loadError places a parse error.
func (f *file) loadError(err error) *LoadError {
	var se *syntaxError
	var le *lineError
	switch {
	case errors.As(err, &se):
		line, col := f.position(se.off)
		msg := se.msg
		if se.first >= 0 {
			fl, fc := f.position(se.first)
			msg += fmt.Sprintf(" (first at line %d, column %d)", fl, fc)
		}
		return &LoadError{File: f.name, Line: line, Column: col, Msg: msg}
	case errors.As(err, &le):
		return &LoadError{File: f.name, Line: le.line, Msg: le.msg + f.yamlHint(le)}
	}
	return &LoadError{File: f.name, Msg: err.Error(), Err: err}
}

// yamlHint explains the YAML parser's errors that puzzle people, and
// places those it gives no line (an unknown anchor).
func (f *file) yamlHint(le *lineError) string {
	if le.line == 0 {
		if m := unknownAnchorRE.FindStringSubmatch(le.msg); m != nil {
			if i := strings.Index(f.src, "*"+m[1]); i >= 0 {
				le.line, _ = f.position(int32(i))
			}
		}
		return ""
	}
	f.posOnce.Do(f.index)
	if le.line <= len(f.lines) {
		rest := f.src[f.lines[le.line-1]:]
		if strings.HasPrefix(strings.TrimLeft(rest, " "), "\t") {
			return " (a tab: YAML indents with spaces only)"
		}
	}
	return ""
}

var unknownAnchorRE = regexp.MustCompile(`^unknown anchor '([^']*)' referenced`)

func (f *file) errorAt(off int32, format string, args ...any) *LoadError {
	line, col := f.position(off)
	return &LoadError{File: f.name, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

type loader struct {
	doc   *Document
	path  []seg // of the node being scanned
	queue []*file
	errs  []error
	more  int
}

func (l *loader) fail(err *LoadError) {
	err.inDocument = true
	if len(l.errs) >= maxRefErrors {
		l.more++
		return
	}
	l.errs = append(l.errs, err)
}

// checkRoot makes sure f is an OpenAPI document of a version we read.
func (l *loader) checkRoot(f *file) error {
	if f.root == nil {
		return &LoadError{File: f.name, Msg: "empty file: want an OpenAPI document (openapi: 3.x or swagger: \"2.0\")", notOpenAPI: true}
	}
	r := f.root
	if r.kind != mappingNode {
		what := "a list"
		if r.kind == scalarNode {
			what = "a single value"
		}
		return notOpenAPI(f.errorAt(r.off, "not an OpenAPI document: the top level is %s; want a mapping with an openapi or swagger field", what))
	}
	if k, v := r.getKey("openapi"); k != nil {
		ver, _ := v.text()
		major, minor, ok := parseVersion(ver)
		if !ok || major != 3 || minor > 2 {
			return f.errorAt(v.off, "unsupported OpenAPI version %q: tlsgate lint reads 2.0, 3.0, 3.1 and 3.2", ver)
		}
		l.doc.Version, l.doc.major, l.doc.minor = ver, major, minor
		return nil
	}
	if k, v := r.getKey("swagger"); k != nil {
		ver, _ := v.text()
		if ver != "2.0" && ver != "2" {
			return f.errorAt(v.off, "unsupported Swagger version %q: tlsgate lint reads 2.0, 3.0, 3.1 and 3.2", ver)
		}
		l.doc.Version, l.doc.major = ver, 2
		return nil
	}
	switch {
	case r.get("asyncapi") != nil:
		return notOpenAPI(f.errorAt(r.off, "an AsyncAPI document, not OpenAPI (no openapi or swagger field)"))
	case r.get("swaggerVersion") != nil:
		return notOpenAPI(f.errorAt(r.off, "a Swagger 1.x document: tlsgate lint reads 2.0, 3.0, 3.1 and 3.2"))
	case r.get("$schema") != nil:
		return notOpenAPI(f.errorAt(r.off, "a JSON Schema, not an OpenAPI document (no openapi or swagger field)"))
	}
	return notOpenAPI(f.errorAt(r.off, "not an OpenAPI document: no openapi or swagger field at the top level"))
}

func notOpenAPI(e *LoadError) *LoadError {
	e.notOpenAPI = true
	return e
}

// parseVersion reads "3.1.0", "3.1" (YAML reads it as a number) and "3".
func parseVersion(v string) (major, minor int, ok bool) {
	parts := strings.SplitN(v, ".", 3)
	var err error
	if major, err = strconv.Atoi(parts[0]); err != nil {
		return 0, 0, false
	}
	if len(parts) > 1 {
		if minor, err = strconv.Atoi(parts[1]); err != nil {
			return 0, 0, false
		}
	}
	return major, minor, true
}

// literalKey says whether a key holds a value, not OpenAPI objects: a
// "$ref" in an example is data.
func literalKey(k string) bool {
	switch k {
	case "example", "default", "enum", "const", "value":
		return true
	}
	return false
}

// nameMap says whether a key's mapping is keyed by names, not by fields:
// a property may be called "example", a response "default".
func nameMap(k string) bool {
	switch k {
	case "properties", "patternProperties", "definitions", "$defs", "dependentSchemas",
		"schemas", "responses", "parameters", "headers", "requestBodies",
		"securitySchemes", "securityDefinitions", "links", "callbacks", "pathItems",
		"paths", "webhooks", "encoding", "content", "variables", "mediaTypes", "examples":
		return true
	}
	return false
}

// scan walks a file once: it resolves every $ref (loading the files they
// name) and records every x-tlsgate-ignore. Alias copies are not entered:
// their anchor was scanned where it is written.
//
// The path to n is kept in l.path, a stack, and made a *seg only where it
// is recorded: allocating a step per node doubled the time of a load.
func (l *loader) scan(f *file, n *node, names, schemaID bool) {
	switch n.kind {
	case sequenceNode:
		for i := range n.content {
			if c := &n.content[i]; c.flags&flagAlias == 0 {
				l.path = append(l.path, seg{index: i})
				l.scan(f, c, false, schemaID)
				l.path = l.path[:len(l.path)-1]
			}
		}
	case mappingNode:
		if !names && n.get("$id") != nil {
			// JSON Schema's $id changes the base of the $refs below it.
			schemaID = true
		}
		for i := 0; i+1 < len(n.content); i += 2 {
			k, v := &n.content[i], &n.content[i+1]
			key := k.value
			if !names {
				switch {
				case key == "$ref":
					if ref, ok := v.str(); ok {
						l.ref(f, v, ref, schemaID)
					}
					continue
				case key == "x-tlsgate-ignore":
					l.ignore(f, n, k, v, l.segs())
					continue
				case strings.HasPrefix(key, "x-"), literalKey(key):
					continue
				}
			}
			if v.flags&flagAlias != 0 {
				continue
			}
			childNames := !names && v.kind == mappingNode && nameMap(key)
			if key == "examples" && !names && v.kind == sequenceNode {
				continue // JSON Schema examples: values
			}
			l.path = append(l.path, seg{key: key, index: -1})
			l.scan(f, v, childNames, schemaID)
			l.path = l.path[:len(l.path)-1]
		}
	}
}

// segs makes the scan's path a *seg.
func (l *loader) segs() *seg {
	var s *seg
	for _, e := range l.path {
		s = &seg{up: s, key: e.key, index: e.index}
	}
	return s
}

// ignore records an x-tlsgate-ignore: a list of rule ids, or one.
func (l *loader) ignore(f *file, holder, k, v *node, path *seg) {
	s := &ignoreSite{f: f, path: path, off: k.off}
	add := func(n *node, i int) {
		id, ok := n.str()
		if !ok || id == "" {
			s.bad = append(s.bad, badIgnore{i, fmt.Sprintf("x-tlsgate-ignore takes rule ids, and %q is none", n.value)})
			return
		}
		s.rules = append(s.rules, id)
		s.index = append(s.index, i)
	}
	switch v.kind {
	case sequenceNode:
		for i := range v.content {
			add(&v.content[i], i)
		}
	case scalarNode:
		add(v, -1)
	default:
		s.bad = append(s.bad, badIgnore{-1, "x-tlsgate-ignore takes a list of rule ids, such as [server-https]"})
	}
	l.doc.sites = append(l.doc.sites, s)
	if id := holder.identity(); id != nil {
		l.doc.ignores[id] = s
	}
}

// ref resolves one $ref and records the result.
func (l *loader) ref(f *file, v *node, ref string, schemaID bool) {
	key := refKey{f, ref}
	if _, done := l.doc.refs[key]; done {
		return
	}
	filePart, frag, _ := strings.Cut(ref, "#")
	if isAbsURL(filePart) {
		l.doc.remote = append(l.doc.remote, remoteRef{f, l.segs().key1("$ref"), ref})
		return
	}
	if schemaID || frag != "" && !strings.HasPrefix(frag, "/") {
		// Relative to a JSON Schema $id, or a plain-name anchor ("#foo"):
		// neither can be resolved by position, and neither names an
		// object that the rules read.
		return
	}
	t, err := l.resolve(f, filePart, frag, v.off)
	if err != nil {
		l.fail(err)
		return
	}
	// A chain of $refs that comes back to itself resolves to nothing.
	seen := map[*node]bool{v: true}
	for hop := t; ; {
		next := hop.n.get("$ref")
		r, ok := next.str()
		if !ok {
			break
		}
		if seen[next] {
			l.fail(f.errorAt(v.off, "$ref %q leads to a cycle of $refs that never reaches a value", ref))
			return
		}
		seen[next] = true
		fp, fr, _ := strings.Cut(r, "#")
		if isAbsURL(fp) || fr != "" && !strings.HasPrefix(fr, "/") {
			break
		}
		h, err := l.resolve(hop.f, fp, fr, next.off)
		if err != nil {
			break // reported where that $ref is written
		}
		hop = h
	}
	l.doc.refs[key] = t
}

// resolve finds filePart#frag as written in f at off.
func (l *loader) resolve(f *file, filePart, frag string, off int32) (refTarget, *LoadError) {
	ref := filePart
	if frag != "" || filePart == "" {
		ref += "#" + frag
	}
	tf := f
	if filePart != "" {
		p, err := url.PathUnescape(filePart)
		if err != nil {
			p = filePart
		}
		p = filepath.FromSlash(p)
		abs, name := p, p
		if !filepath.IsAbs(p) {
			abs = filepath.Join(filepath.Dir(f.abs), p)
			if f.name != "-" {
				name = filepath.Join(filepath.Dir(f.name), p)
			}
		}
		if tf = l.doc.files[abs]; tf == nil {
			if len(l.doc.files) > maxRefFiles {
				return refTarget{}, f.errorAt(off, "$ref %q: more than %d files referenced", ref, maxRefFiles)
			}
			data, err := readFile(abs)
			if err != nil {
				le := f.errorAt(off, "$ref %q: cannot read %s: %s", ref, name, readMsg(err))
				le.Err = err
				return refTarget{}, le
			}
			tf, err = parseFile(name, abs, unsafe.String(unsafe.SliceData(data), len(data)))
			if err != nil {
				le := err.(*LoadError)
				line, col := f.position(off)
				le.Msg += fmt.Sprintf(" (in the file that $ref %q at %s:%d:%d names)", ref, f.name, line, col)
				return refTarget{}, le
			}
			l.doc.files[abs] = tf
			if tf.root != nil {
				l.queue = append(l.queue, tf)
			}
		}
		if tf.root == nil {
			return refTarget{}, f.errorAt(off, "$ref %q: %s is empty", ref, tf.name)
		}
	}
	n, path := tf.root, (*seg)(nil)
	if frag == "" {
		return refTarget{tf, n, path}, nil
	}
	ptr, err := url.PathUnescape(frag)
	if err != nil {
		ptr = frag
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = pointerUnescape.Replace(tok)
		switch n.kind {
		case mappingNode:
			c := n.get(tok)
			if c == nil {
				return refTarget{}, f.errorAt(off, "$ref %q does not resolve: %s has no %q%s", ref, placeOf(f, tf, path), tok, suggest(n, tok))
			}
			n, path = c, path.key1(tok)
		case sequenceNode:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(n.content) || tok != strconv.Itoa(i) {
				return refTarget{}, f.errorAt(off, "$ref %q does not resolve: %s is a list of %d, and %q is no index of it", ref, placeOf(f, tf, path), len(n.content), tok)
			}
			n, path = &n.content[i], path.idx(i)
		default:
			return refTarget{}, f.errorAt(off, "$ref %q does not resolve: %s is a single value, not a mapping", ref, placeOf(f, tf, path))
		}
	}
	return refTarget{tf, n, path}, nil
}

// placeOf names a place in tf for an error in f.
func placeOf(f, tf *file, path *seg) string {
	if f != tf {
		return path.jsonPath() + " of " + tf.name
	}
	return path.jsonPath()
}

// suggest names the key of n nearest to key, for a typo in a $ref.
func suggest(n *node, key string) string {
	best, bestD := "", len(key)/3+1
	for i := 0; i+1 < len(n.content) && i < 20000; i += 2 {
		k := n.content[i].value
		if d := editDistance(strings.ToLower(k), strings.ToLower(key), bestD); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is Levenshtein's distance, or max when it is at least max.
func editDistance(a, b string, max int) int {
	if d := len(a) - len(b); d >= max || -d >= max {
		return max
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= max {
			return max
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], max)
}

// isAbsURL says whether a $ref's file part is a URL with a scheme (not a
// path, nor a Windows drive letter).
func isAbsURL(s string) bool {
	i := strings.IndexByte(s, ':')
	if i < 2 {
		return false
	}
	for j := 0; j < i; j++ {
		c := s[j]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// deref follows $refs from n (at most 32, against cycles) and returns the
// node they lead to with its file and path; n itself when it is not a
// reference, and nil when a $ref cannot be followed (a URL, a JSON Schema
// anchor).
func (d *Document) deref(f *file, n *node, path *seg) (*file, *node, *seg) {
	for range 32 {
		r := n.get("$ref")
		ref, ok := r.str()
		if !ok {
			return f, n, path
		}
		t, ok := d.refs[refKey{f, ref}]
		if !ok {
			return nil, nil, nil
		}
		f, n, path = t.f, t.n, t.path
	}
	return nil, nil, nil
}

// pointerUnescape decodes a JSON Pointer token (RFC 6901).
var pointerUnescape = strings.NewReplacer("~1", "/", "~0", "~")
