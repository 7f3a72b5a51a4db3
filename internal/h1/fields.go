package h1

import (
	"bufio"
	"net/http"
	"net/textproto"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// writeFields is net/http's Header.WriteSubset for a response head: the
// fields of h whose names are not in exclude, sorted by name, a field with
// an invalid name dropped, CR and LF in a value turned into spaces and the
// value trimmed. It writes the same bytes (FuzzWriteFields and
// TestWriteFields compare them) without WriteSubset's pooled sorter,
// its comparison closure and its replacer, which a value without CR or LF
// never needs: together a few per cent of the CPU of a proxied keep-alive
// request (docs/benchmarks.md).
//
// scratch is space for the fields. writeFields returns space for the next
// call, cleared so that pooled space holds no header's strings: scratch
// itself when a head of many fields grew them past maxKeys.
func writeFields(bw *bufio.Writer, h http.Header, exclude map[string]bool, scratch []field) []field {
	fields := scratch[:0]
	for k, vv := range h {
		if !exclude[k] {
			fields = append(fields, field{k, vv})
		}
	}
	sortFields(fields)
	for _, f := range fields {
		if !httpguts.ValidHeaderFieldName(f.name) {
			continue
		}
		for _, v := range f.values {
			if strings.IndexByte(v, '\n') >= 0 || strings.IndexByte(v, '\r') >= 0 {
				v = newlineToSpace.Replace(v)
			}
			v = textproto.TrimString(v)
			if n := len(f.name) + len(v) + 4; n <= bw.Available() {
				b := append(bw.AvailableBuffer(), f.name...)
				b = append(b, ':', ' ')
				b = append(b, v...)
				bw.Write(append(b, '\r', '\n'))
				continue
			}
			bw.WriteString(f.name)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	clear(fields)
	clear(scratch[:cap(scratch)]) // append may have filled it before outgrowing it
	if cap(fields) > maxKeys {
		return scratch[:0]
	}
	return fields[:0]
}

// sortFields sorts fields by name as net/http's sorter does (names are
// unique, so the order is the same), by insertion when they are few, as
// pdqsort would, but without a comparison closure.
func sortFields(fields []field) {
	if len(fields) > 12 {
		slices.SortFunc(fields, func(a, b field) int { return strings.Compare(a.name, b.name) })
		return
	}
	for i := 1; i < len(fields); i++ {
		for j := i; j > 0 && fields[j].name < fields[j-1].name; j-- {
			fields[j], fields[j-1] = fields[j-1], fields[j]
		}
	}
}

// field is one name of a header and its values.
type field struct {
	name   string
	values []string
}

// maxKeys bounds the scratch space (fields) writeFields keeps between requests.
const maxKeys = 64

// newlineToSpace is net/http's headerNewlineToSpace.
var newlineToSpace = strings.NewReplacer("\n", " ", "\r", " ")
