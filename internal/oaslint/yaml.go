package oaslint

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// lineError is a parse error the YAML parser locates by line only.
type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string { return e.msg }

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError gives a YAML parser error a position when it names one.
func yamlError(err error) error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &lineError{line: line, msg: m[2]}
	}
	return &lineError{msg: strings.TrimPrefix(msg, "yaml: ")}
}

// parseYAML parses the one YAML document of f.src into nodes. An empty
// document (nothing, or only comments) is nil without error.
func parseYAML(f *file) (root *node, err error) {
	// The parser only reads its input: it may share the source.
	dec := yaml.NewDecoder(strings.NewReader(f.src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, yamlError(err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, &syntaxError{off: f.offset(extra.Line, extra.Column), first: -1,
			msg: "a second YAML document (after ---): a file holds one OpenAPI document"}
	case !errors.Is(err, io.EOF):
		return nil, yamlError(err)
	}
	y := &doc
	if y.Kind == yaml.DocumentNode {
		if len(y.Content) == 0 {
			return nil, nil
		}
		y = y.Content[0]
	}
	c := &converter{f: f, memo: map[*yaml.Node]node{}, busy: map[*yaml.Node]bool{}}
	n, err := c.convert(y, 0)
	if err != nil {
		return nil, err
	}
	return &n, nil
}

// converter turns yaml.Nodes into nodes. An alias becomes a copy of the
// anchored node that shares its children, so that aliases cost nothing
// (no "billion laughs"), and is marked so that findings under it are
// reported at the alias.
type converter struct {
	f    *file
	memo map[*yaml.Node]node // converted anchored nodes
	busy map[*yaml.Node]bool // anchored nodes being converted
}

func (c *converter) errorf(y *yaml.Node, format string, args ...any) error {
	return &syntaxError{off: c.f.offset(y.Line, y.Column), msg: fmt.Sprintf(format, args...), first: -1}
}

// place stores a converted child in its slot and records where an alias
// was written.
func (c *converter) place(slot *node, n node, aliasAt int32) {
	*slot = n
	slot.flags &^= flagAlias
	if aliasAt >= 0 {
		slot.flags |= flagAlias
		if c.f.aliases == nil {
			c.f.aliases = map[*node]int32{}
		}
		c.f.aliases[slot] = aliasAt
	}
}

func (c *converter) aliasAt(n *node) int32 {
	if n.flags&flagAlias == 0 {
		return -1
	}
	return c.f.aliases[n]
}

// child converts y for a slot and returns the alias position (or -1).
func (c *converter) child(y *yaml.Node, depth int) (node, int32, error) {
	if y.Kind != yaml.AliasNode {
		n, err := c.convert(y, depth)
		return n, -1, err
	}
	at := c.f.offset(y.Line, y.Column)
	if y.Alias == nil {
		return node{}, -1, c.errorf(y, "alias *%s has no anchor", y.Value)
	}
	n, ok := c.memo[y.Alias]
	if !ok {
		if c.busy[y.Alias] {
			return node{}, -1, c.errorf(y, "alias *%s is inside its own anchor &%s (a recursive YAML alias)", y.Value, y.Alias.Anchor)
		}
		return node{}, -1, c.errorf(y, "alias *%s refers to no anchor defined before it", y.Value)
	}
	return n, at, nil
}

func (c *converter) convert(y *yaml.Node, depth int) (node, error) {
	if depth > maxDepth {
		return node{}, c.errorf(y, "nesting deeper than %d levels", maxDepth)
	}
	if y.Anchor != "" {
		c.busy[y] = true
		defer delete(c.busy, y)
	}
	n := node{off: c.f.offset(y.Line, y.Column)}
	switch y.Kind {
	case yaml.ScalarNode:
		n.kind, n.value = scalarNode, y.Value
		switch y.ShortTag() {
		case "!!str":
			n.tag = tagStr
		case "!!int", "!!float":
			n.tag = tagNum
		case "!!bool":
			n.tag = tagBool
		case "!!null":
			n.tag = tagNull
		default:
			n.tag = tagOther
		}
	case yaml.SequenceNode:
		n.kind = sequenceNode
		n.content = make([]node, len(y.Content))
		for i, yc := range y.Content {
			cn, at, err := c.child(yc, depth+1)
			if err != nil {
				return n, err
			}
			c.place(&n.content[i], cn, at)
		}
	case yaml.MappingNode:
		n.kind = mappingNode
		if err := c.mapping(&n, y, depth); err != nil {
			return n, err
		}
	case yaml.AliasNode:
		return node{}, c.errorf(y, "an alias where a value was expected")
	default:
		return node{}, c.errorf(y, "unexpected YAML node")
	}
	if y.Anchor != "" {
		c.memo[y] = n
	}
	return n, nil
}

type pair struct {
	k, v     node
	kAt, vAt int32 // alias positions, or -1
}

func (c *converter) mapping(n *node, y *yaml.Node, depth int) error {
	var pairs, merged []pair
	seen := map[string]int32{}
	for i := 0; i+1 < len(y.Content); i += 2 {
		yk, yv := y.Content[i], y.Content[i+1]
		if yk.Kind == yaml.ScalarNode && yk.ShortTag() == "!!merge" {
			m, err := c.merge(yv, depth)
			if err != nil {
				return err
			}
			merged = append(merged, m...)
			continue
		}
		k, kAt, err := c.child(yk, depth+1)
		if err != nil {
			return err
		}
		if k.kind != scalarNode {
			return c.errorf(yk, "a mapping key that is not a scalar (OpenAPI keys are strings)")
		}
		if first, dup := seen[k.value]; dup {
			return &syntaxError{off: k.off, msg: fmt.Sprintf("duplicate key %q", k.value), first: first}
		}
		seen[k.value] = k.off
		v, vAt, err := c.child(yv, depth+1)
		if err != nil {
			return err
		}
		pairs = append(pairs, pair{k, v, kAt, vAt})
	}
	// Merged keys (<<: *base) never override keys written in the mapping,
	// and an earlier merge wins over a later one.
	for _, p := range merged {
		if _, dup := seen[p.k.value]; dup {
			continue
		}
		seen[p.k.value] = p.k.off
		pairs = append(pairs, p)
	}
	n.content = make([]node, 2*len(pairs))
	for i, p := range pairs {
		c.place(&n.content[2*i], p.k, p.kAt)
		c.place(&n.content[2*i+1], p.v, p.vAt)
	}
	return nil
}

// merge returns the pairs a merge key's value brings: a mapping, an alias
// of one, or a sequence of those. They are reported at the alias.
func (c *converter) merge(yv *yaml.Node, depth int) ([]pair, error) {
	sources := []*yaml.Node{yv}
	if yv.Kind == yaml.SequenceNode {
		sources = yv.Content
	}
	var out []pair
	for _, s := range sources {
		m, at, err := c.child(s, depth+1)
		if err != nil {
			return nil, err
		}
		if m.kind != mappingNode {
			return nil, c.errorf(s, "a merge key (<<) needs a mapping or a list of mappings")
		}
		for i := 0; i+1 < len(m.content); i += 2 {
			kAt, vAt := at, at
			if at < 0 { // an inline mapping: its children keep their own alias marks
				kAt, vAt = c.aliasAt(&m.content[i]), c.aliasAt(&m.content[i+1])
			}
			out = append(out, pair{m.content[i], m.content[i+1], kAt, vAt})
		}
	}
	return out, nil
}
