package oaslint

import (
	"cmp"
	"slices"
)

// Position is a place in a file: 1-based line and column, the column
// counted in characters (Unicode code points), as SARIF's
// "unicodeCodePoints". The zero Position is no place.
type Position struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column,omitempty"`
}

// IsZero reports whether p is no place.
func (p Position) IsZero() bool { return p.Line == 0 }

// A Finding is one problem at one place of a document.
type Finding struct {
	Rule     string
	Severity Severity // after the Config's changes
	Message  string
	// Position is the offending value: the value itself, not its key.
	// Reached through a YAML alias (or merge key), it is the alias.
	Position
	// Path is the value's place in its file as JSONPath
	// ($.paths['/pets'].get.servers[0].url), Pointer as a JSON Pointer
	// (/paths/~1pets/get/servers/0/url).
	Path, Pointer string
	// Defined is where the value is written when Position is an alias
	// that brings it; zero otherwise.
	Defined Position
	// Suppressed says why the finding is not counted; nil when it is.
	Suppressed *Suppression
}

// NeedsBaseURL reports whether the finding is one that Linter.BaseURL
// would decide: a url-relative finding, made only while BaseURL is nil,
// whose message says what is unknown but not how to give it (a front end
// knows: a flag, a field).
func (f Finding) NeedsBaseURL() bool { return f.Rule == RuleURLRelative }

// Suppression kinds.
const (
	SuppressedInSource = "x-tlsgate-ignore" // an x-tlsgate-ignore at or above the value
	SuppressedByConfig = "config"           // the rule is off in the Config
)

// A Suppression says why a finding is not counted.
type Suppression struct {
	Kind string // SuppressedInSource or SuppressedByConfig
	// Position is that of the x-tlsgate-ignore key, or the rule's line in
	// the configuration file.
	Position
}

// An Ignore is one x-tlsgate-ignore extension of a document.
type Ignore struct {
	Position
	Rules []string
	// Silenced counts the findings it suppressed; 0 means it is unused.
	Silenced int
}

// A Report is the result of linting one file.
type Report struct {
	File string
	// Version is the document's openapi or swagger field.
	Version string
	// Findings are counted, in the order of their positions.
	Findings []Finding
	// Suppressed are findings silenced by x-tlsgate-ignore or the Config.
	Suppressed []Finding
	// Ignores lists every x-tlsgate-ignore of the document.
	Ignores []Ignore
	// Err, when not nil, is why the file could not be linted: a
	// *LoadError, or several joined.
	Err error
	// Skipped is set for a file found in a directory that is not an
	// OpenAPI document (a YAML file of something else); it is not an error.
	Skipped bool
}

// Count returns the number of counted findings at or above min.
func (r *Report) Count(min Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity >= min {
			n++
		}
	}
	return n
}

// All returns the counted and the suppressed findings together, in the
// order of their positions.
func (r *Report) All() []Finding {
	all := append(append([]Finding(nil), r.Findings...), r.Suppressed...)
	sortFindings(r.File, all)
	return all
}

func sortFindings(root string, fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if a.File != b.File {
			if a.File == root {
				return -1
			}
			if b.File == root {
				return 1
			}
			return cmp.Compare(a.File, b.File)
		}
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Message, b.Message))
	})
}

// A Summary counts the findings of many reports.
type Summary struct {
	Files   int // named or found, OpenAPI or not
	Linted  int // parsed and linted
	Skipped int // found in directories, not OpenAPI
	Failed  int // could not be linted (Report.Err)
	// Errors, Warnings and Infos count the counted findings.
	Errors, Warnings, Infos int
	// Suppressed counts the suppressed findings; ByConfig by rule.
	Suppressed int
	ByConfig   map[string]int
	// InSource counts the findings silenced by x-tlsgate-ignore;
	// UnusedIgnores the x-tlsgate-ignore that silenced nothing.
	InSource      int
	UnusedIgnores int
}

// Summarize adds up reports.
func Summarize(reports []*Report) Summary {
	s := Summary{Files: len(reports), ByConfig: map[string]int{}}
	for _, r := range reports {
		switch {
		case r.Skipped:
			s.Skipped++
			continue
		case r.Err != nil:
			s.Failed++
			continue
		}
		s.Linted++
		for _, f := range r.Findings {
			switch f.Severity {
			case Error:
				s.Errors++
			case Warning:
				s.Warnings++
			default:
				s.Infos++
			}
		}
		for _, f := range r.Suppressed {
			s.Suppressed++
			if f.Suppressed.Kind == SuppressedByConfig {
				s.ByConfig[f.Rule]++
			} else {
				s.InSource++
			}
		}
		for _, ig := range r.Ignores {
			if ig.Silenced == 0 {
				s.UnusedIgnores++
			}
		}
	}
	return s
}
