package main

import (
	"encoding/json"
	"io"
)

// Output helpers shared by the commands' formatters.

// ansi colours text on a terminal with SGR codes ("1;31": bold red), or
// leaves it as it is when false.
type ansi bool

// SGR codes the reports use.
const (
	sgrBold   = "1"
	sgrDim    = "2"
	sgrRed    = "31"
	sgrGreen  = "32"
	sgrYellow = "33"
	sgrCyan   = "36"
)

// wrap colours s with code; an empty code leaves it as it is.
func (a ansi) wrap(code, s string) string {
	if !a || code == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// bold is wrap in bold and code.
func (a ansi) bold(code, s string) string {
	if code == "" {
		return a.wrap(sgrBold, s)
	}
	return a.wrap(sgrBold+";"+code, s)
}

// writeJSON writes v as indented JSON, with <, > and & as they are: it is
// read by jq and people, not put into HTML.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
