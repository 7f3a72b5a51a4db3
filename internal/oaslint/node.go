package oaslint

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"
)

// kind is the shape of a node: the three of JSON and YAML.
type kind uint8

const (
	scalarNode kind = iota + 1
	mappingNode
	sequenceNode
)

// tag is the resolved type of a scalar.
type tag uint8

const (
	tagStr tag = iota
	tagNum
	tagBool
	tagNull
	tagOther // YAML's !!binary, !!timestamp, custom tags
)

// flagAlias marks a node that stands for a YAML alias (*name), or a value
// that a merge key (<<: *name) brought: a copy of the anchored node, with
// its offset, that shares its children. Where the alias is written is in
// file.aliases.
const flagAlias = 1

// node is one value of a parsed document, JSON and YAML alike. It is kept
// small (48 bytes) because GitHub's 13 MB document has about 1.3 million of
// them: the position is a byte offset, turned into line and column only
// for the few nodes that are reported, and children are stored inline.
type node struct {
	kind  kind
	tag   tag
	flags uint8
	// off is the byte offset in the file's source of the node's first
	// character: the '{' or '[' of a JSON container, the first key of a
	// YAML block mapping. A YAML alias has the offset of the anchored
	// node: where the value is written.
	off     int32
	value   string // scalars
	content []node // mapping: key, value, key, value…; sequence: items
}

// get returns the value of key in a mapping, or nil.
func (n *node) get(key string) *node {
	if n == nil || n.kind != mappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.content); i += 2 {
		if n.content[i].value == key {
			return &n.content[i+1]
		}
	}
	return nil
}

// getKey is get that also returns the key node.
func (n *node) getKey(key string) (k, v *node) {
	if n == nil || n.kind != mappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.content); i += 2 {
		if n.content[i].value == key {
			return &n.content[i], &n.content[i+1]
		}
	}
	return nil, nil
}

// str returns the value of a string scalar.
func (n *node) str() (string, bool) {
	if n == nil || n.kind != scalarNode || n.tag != tagStr {
		return "", false
	}
	return n.value, true
}

// text returns the value of any scalar but null: YAML reads "openapi: 3.1"
// as a number, and the version is still meant.
func (n *node) text() (string, bool) {
	if n == nil || n.kind != scalarNode || n.tag == tagNull {
		return "", false
	}
	return n.value, true
}

// identity is shared by a mapping or sequence and the alias copies of it,
// so that side tables keyed by it (x-tlsgate-ignore sites) see through
// aliases. Empty containers have none.
func (n *node) identity() *node {
	if len(n.content) == 0 {
		return nil
	}
	return unsafe.SliceData(n.content)
}

// file is one parsed source file: the document or a file a $ref names.
type file struct {
	name string // as shown in findings: the path given, or joined from it
	abs  string // absolute path, for resolving relative $refs
	src  string
	root *node
	// aliases maps each node marked flagAlias (by its address in its
	// parent's content) to the offset of the alias that brought it.
	aliases map[*node]int32

	posOnce sync.Once
	lines   []int32 // offsets of line starts
	cont    []int32 // offsets of UTF-8 continuation bytes, for columns in characters
}

// position turns an offset into a 1-based line and a 1-based column
// counted in characters (Unicode code points).
func (f *file) position(off int32) (line, col int) {
	f.posOnce.Do(f.index)
	i, _ := slices.BinarySearch(f.lines, off+1)
	start := f.lines[i-1]
	a, _ := slices.BinarySearch(f.cont, start)
	b, _ := slices.BinarySearch(f.cont, off)
	return i, int(off-start) - (b - a) + 1
}

func (f *file) index() {
	if f.lines != nil {
		return
	}
	f.lines = make([]int32, 1, 1+strings.Count(f.src, "\n"))
	for i := 0; i < len(f.src); {
		j := strings.IndexByte(f.src[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1
		f.lines = append(f.lines, int32(i))
	}
	for i := 0; i < len(f.src); i++ {
		if f.src[i] >= 0x80 && !utf8.RuneStart(f.src[i]) {
			f.cont = append(f.cont, int32(i))
		}
	}
}

// offset is the inverse of position, for parsers that report lines and
// columns (YAML).
func (f *file) offset(line, col int) int32 {
	f.posOnce.Do(f.index)
	if line < 1 {
		return 0
	}
	if line > len(f.lines) {
		return int32(len(f.src))
	}
	start := int(f.lines[line-1])
	end := len(f.src)
	if line < len(f.lines) {
		end = int(f.lines[line])
	}
	a, _ := slices.BinarySearch(f.cont, int32(start))
	b, _ := slices.BinarySearch(f.cont, int32(end))
	if a == b { // ASCII line
		return int32(min(start+col-1, end))
	}
	off := start
	for c := 1; c < col && off < end; c++ {
		_, w := utf8.DecodeRuneInString(f.src[off:])
		off += w
	}
	return int32(off)
}

// seg is one step of a path from a file's root to a node, linked to its
// parent so that paths share their prefixes.
type seg struct {
	up    *seg
	key   string
	index int // -1 for a mapping key
}

func (s *seg) key1(k string) *seg { return &seg{up: s, key: k, index: -1} }
func (s *seg) idx(i int) *seg     { return &seg{up: s, index: i} }

func (s *seg) list() []*seg {
	var l []*seg
	for ; s != nil; s = s.up {
		l = append(l, s)
	}
	slices.Reverse(l)
	return l
}

// jsonPath renders the path as JSONPath: $.paths['/pets'].get.servers[0].url.
func (s *seg) jsonPath() string {
	var b strings.Builder
	b.WriteString("$")
	for _, e := range s.list() {
		switch {
		case e.index >= 0:
			b.WriteString("[" + strconv.Itoa(e.index) + "]")
		case isIdent(e.key):
			b.WriteString("." + e.key)
		default:
			b.WriteString("['" + jsonPathQuote.Replace(e.key) + "']")
		}
	}
	return b.String()
}

// pointer renders the path as a JSON Pointer (RFC 6901): /paths/~1pets/get.
func (s *seg) pointer() string {
	var b strings.Builder
	for _, e := range s.list() {
		b.WriteByte('/')
		if e.index >= 0 {
			b.WriteString(strconv.Itoa(e.index))
		} else {
			b.WriteString(pointerEscape.Replace(e.key))
		}
	}
	return b.String()
}

// isIdent says whether JSONPath's shorthand .name may stand for ['name']
// (RFC 9535, ASCII only).
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9' {
			continue
		}
		return false
	}
	return true
}

var jsonPathQuote = strings.NewReplacer(`\`, `\\`, `'`, `\'`)

var pointerEscape = strings.NewReplacer("~", "~0", "/", "~1")
