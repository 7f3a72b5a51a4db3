package oaslint

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds nesting, so that a hostile document cannot exhaust the
// stack. Real documents nest a few dozen levels.
const maxDepth = 10000

// syntaxError is a parse error at a byte offset of the source.
type syntaxError struct {
	off   int32
	msg   string
	first int32 // for a duplicate key, the offset of the first one; else -1
}

func (e *syntaxError) Error() string { return e.msg }

// jsonParser is a strict RFC 8259 parser that builds nodes with their
// offsets. It exists because the YAML parser, which reads JSON too, takes
// 0.75 s and 110 MB for GitHub's 13 MB document; this one takes a fraction
// of that (docs/lint.md). Strings without escapes are not copied: they
// share the source.
type jsonParser struct {
	src   string
	pos   int
	depth int
	stack []node // children of the open containers
	slab  []node // where closed containers' children are stored
	seen  map[string]int
}

func parseJSON(src string) (*node, error) {
	p := &jsonParser{src: src}
	p.space()
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos < len(p.src) {
		return nil, p.errorf("invalid character %s after top-level value", p.quoteChar())
	}
	root := v
	return &root, nil
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return &syntaxError{off: int32(p.pos), msg: fmt.Sprintf(format, args...), first: -1}
}

func (p *jsonParser) eof() error {
	return &syntaxError{off: int32(len(p.src)), msg: "unexpected end of JSON input", first: -1}
}

func (p *jsonParser) quoteChar() string {
	r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
	if r == '\'' {
		return `'\''`
	}
	if r == '"' {
		return `'"'`
	}
	return strconv.QuoteRune(r)
}

func (p *jsonParser) space() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// alloc returns storage for n children; slabs keep the allocation count
// low for documents with a million nodes.
func (p *jsonParser) alloc(n int) []node {
	const slabSize = 4096
	if n == 0 {
		return nil
	}
	if n > len(p.slab) {
		if n > slabSize/8 {
			return make([]node, n)
		}
		p.slab = make([]node, slabSize)
	}
	s := p.slab[:n:n]
	p.slab = p.slab[n:]
	return s
}

func (p *jsonParser) value() (node, error) {
	if p.pos >= len(p.src) {
		return node{}, p.eof()
	}
	start := int32(p.pos)
	switch c := p.src[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		s, err := p.string()
		return node{kind: scalarNode, tag: tagStr, off: start, value: s}, err
	case c == '-' || c >= '0' && c <= '9':
		s, err := p.number()
		return node{kind: scalarNode, tag: tagNum, off: start, value: s}, err
	case c == 't':
		return p.literal("true", tagBool)
	case c == 'f':
		return p.literal("false", tagBool)
	case c == 'n':
		return p.literal("null", tagNull)
	}
	return node{}, p.errorf("invalid character %s looking for beginning of value", p.quoteChar())
}

func (p *jsonParser) literal(word string, t tag) (node, error) {
	start := p.pos
	for i := 0; i < len(word); i++ {
		if p.pos >= len(p.src) {
			return node{}, p.eof()
		}
		if p.src[p.pos] != word[i] {
			return node{}, p.errorf("invalid character %s in literal %s (expecting %q)", p.quoteChar(), word, word[i])
		}
		p.pos++
	}
	return node{kind: scalarNode, tag: t, off: int32(start), value: word}, nil
}

func (p *jsonParser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errorf("nesting deeper than %d levels", maxDepth)
	}
	return nil
}

func (p *jsonParser) object() (node, error) {
	n := node{kind: mappingNode, off: int32(p.pos)}
	base, empty, err := p.open('}')
	if err != nil || empty {
		return n, err
	}
	for {
		if p.pos >= len(p.src) {
			return n, p.eof()
		}
		if p.src[p.pos] != '"' {
			return n, p.errorf("invalid character %s looking for beginning of object key string", p.quoteChar())
		}
		koff := int32(p.pos)
		k, err := p.string()
		if err != nil {
			return n, err
		}
		p.stack = append(p.stack, node{kind: scalarNode, tag: tagStr, off: koff, value: k})
		p.space()
		if p.pos >= len(p.src) {
			return n, p.eof()
		}
		if p.src[p.pos] != ':' {
			return n, p.errorf("invalid character %s after object key", p.quoteChar())
		}
		p.pos++
		p.space()
		v, err := p.value()
		if err != nil {
			return n, err
		}
		if more, err := p.push(v, '}', "object key:value pair"); err != nil {
			return n, err
		} else if !more {
			break
		}
	}
	if err := p.duplicates(p.stack[base:]); err != nil {
		return n, err
	}
	p.pop(&n, base)
	return n, nil
}

// open enters the object or array whose opening byte is at pos, and
// reports whether it closes (with close) at once; base is where its
// elements start on the stack.
func (p *jsonParser) open(close byte) (base int, empty bool, err error) {
	if err := p.enter(); err != nil {
		return 0, false, err
	}
	p.pos++
	base = len(p.stack)
	p.space()
	if p.pos < len(p.src) && p.src[p.pos] == close {
		p.pos++
		p.depth--
		return base, true, nil
	}
	return base, false, nil
}

// push adds an element (an array's, or an object's value) to the stack
// and reads what follows it: ',' when more follow, or close; what names
// the element in the error for anything else.
func (p *jsonParser) push(v node, close byte, what string) (more bool, err error) {
	p.stack = append(p.stack, v)
	p.space()
	if p.pos >= len(p.src) {
		return false, p.eof()
	}
	switch p.src[p.pos] {
	case ',':
		p.pos++
		p.space()
		return true, nil
	case close:
		p.pos++
		return false, nil
	}
	return false, p.errorf("invalid character %s after %s", p.quoteChar(), what)
}

// pop moves the elements pushed since base from the stack into n, whose
// level is done.
func (p *jsonParser) pop(n *node, base int) {
	n.content = p.alloc(len(p.stack) - base)
	copy(n.content, p.stack[base:])
	p.stack = p.stack[:base]
	p.depth--
}

// duplicates rejects a key given twice: JSON leaves the meaning open, YAML
// forbids it, and a linter that checked one of the two values would pass
// a document that a tool reading the other one serves over http.
func (p *jsonParser) duplicates(pairs []node) error {
	n := len(pairs) / 2
	if n < 2 {
		return nil
	}
	if n <= 8 {
		for i := 2; i < len(pairs); i += 2 {
			for j := 0; j < i; j += 2 {
				if pairs[i].value == pairs[j].value {
					return dupError(pairs[i], pairs[j])
				}
			}
		}
		return nil
	}
	if p.seen == nil {
		p.seen = make(map[string]int, n)
	} else {
		clear(p.seen)
	}
	for i := 0; i < len(pairs); i += 2 {
		if j, ok := p.seen[pairs[i].value]; ok {
			return dupError(pairs[i], pairs[j])
		}
		p.seen[pairs[i].value] = i
	}
	return nil
}

func dupError(k, first node) error {
	return &syntaxError{off: k.off, msg: fmt.Sprintf("duplicate key %q", k.value), first: first.off}
}

func (p *jsonParser) array() (node, error) {
	n := node{kind: sequenceNode, off: int32(p.pos)}
	base, empty, err := p.open(']')
	if err != nil || empty {
		return n, err
	}
	for {
		v, err := p.value()
		if err != nil {
			return n, err
		}
		if more, err := p.push(v, ']', "array element"); err != nil {
			return n, err
		} else if !more {
			break
		}
	}
	p.pop(&n, base)
	return n, nil
}

func (p *jsonParser) number() (string, error) {
	start := p.pos
	digits := func() int {
		s := p.pos
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
		}
		return p.pos - s
	}
	if p.src[p.pos] == '-' {
		p.pos++
	}
	if p.pos >= len(p.src) {
		return "", p.eof()
	}
	switch c := p.src[p.pos]; {
	case c == '0':
		p.pos++
	case c >= '1' && c <= '9':
		digits()
	default:
		return "", p.errorf("invalid character %s in numeric literal", p.quoteChar())
	}
	if p.pos < len(p.src) && p.src[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			if p.pos >= len(p.src) {
				return "", p.eof()
			}
			return "", p.errorf("invalid character %s after decimal point in numeric literal", p.quoteChar())
		}
	}
	if p.pos < len(p.src) && (p.src[p.pos] == 'e' || p.src[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.src) && (p.src[p.pos] == '+' || p.src[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			if p.pos >= len(p.src) {
				return "", p.eof()
			}
			return "", p.errorf("invalid character %s in exponent of numeric literal", p.quoteChar())
		}
	}
	return p.src[start:p.pos], nil
}

// string reads a string at p.pos (the opening quote).
func (p *jsonParser) string() (string, error) {
	p.pos++
	start := p.pos
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == '"' {
			s := p.src[start:p.pos]
			p.pos++
			return s, nil
		}
		if c == '\\' {
			return p.escaped(start)
		}
		if c < 0x20 {
			return "", p.errorf("invalid character %s in string literal", p.quoteChar())
		}
		p.pos++
	}
	return "", p.eof()
}

// escaped continues a string that has escapes: it is decoded into a copy.
func (p *jsonParser) escaped(start int) (string, error) {
	var b strings.Builder
	b.WriteString(p.src[start:p.pos])
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b.String(), nil
		case c < 0x20:
			return "", p.errorf("invalid character %s in string literal", p.quoteChar())
		case c != '\\':
			b.WriteByte(c)
			p.pos++
			continue
		}
		p.pos++ // backslash
		if p.pos >= len(p.src) {
			return "", p.eof()
		}
		e := p.src[p.pos]
		p.pos++
		switch e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, err := p.hex4()
			if err != nil {
				return "", err
			}
			if utf16.IsSurrogate(r) {
				// A pair is two escapes; a lone half becomes U+FFFD, as in encoding/json.
				if p.pos+1 < len(p.src) && p.src[p.pos] == '\\' && p.src[p.pos+1] == 'u' {
					save := p.pos
					p.pos += 2
					r2, err := p.hex4()
					if err != nil {
						return "", err
					}
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
					} else {
						p.pos = save
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			b.WriteRune(r)
		default:
			p.pos--
			return "", p.errorf("invalid character %s in string escape code", p.quoteChar())
		}
	}
	return "", p.eof()
}

func (p *jsonParser) hex4() (rune, error) {
	var r rune
	for i := 0; i < 4; i++ {
		if p.pos >= len(p.src) {
			return 0, p.eof()
		}
		c := p.src[p.pos]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, p.errorf("invalid character %s in \\u hexadecimal character escape", p.quoteChar())
		}
		r = r<<4 | rune(d)
		p.pos++
	}
	return r, nil
}
