// Package sarif writes SARIF 2.1.0 logs
// (https://docs.oasis-open.org/sarif/sarif/v2.1.0/), the format GitHub code
// scanning and IDEs read. It models the subset of the standard that
// tlsgate's linter and scanner fill in, and only that: what a caller
// leaves empty is left out of the log, so a log that follows the field
// comments is valid against the standard's schema (tested).
//
// It imports nothing of this module.
package sarif

import (
	"encoding/json"
	"io"
	"net/url"
	"path/filepath"
	"strings"
)

// Version and SchemaURI are those of every log written.
const (
	Version   = "2.1.0"
	SchemaURI = "https://json.schemastore.org/sarif-2.1.0.json"
)

// Levels of a result, a rule's default configuration or a notification.
const (
	LevelError   = "error"
	LevelWarning = "warning"
	LevelNote    = "note"
)

// Log is a SARIF log file.
type Log struct {
	Schema  string `json:"$schema"`
	Version string `json:"version"`
	Runs    []Run  `json:"runs"`
}

// Run is one run of one tool.
type Run struct {
	Tool Tool `json:"tool"`
	// Invocations says whether the run succeeded, and what stopped it.
	Invocations []Invocation `json:"invocations,omitempty"`
	// ColumnKind is how Region columns count: "unicodeCodePoints" or
	// "utf16CodeUnits" (SARIF's default).
	ColumnKind string `json:"columnKind,omitempty"`
	// Results are written as [] when nil: SARIF does not allow null.
	Results []Result `json:"results"`
}

// Tool names what made the log.
type Tool struct {
	Driver Driver `json:"driver"`
}

// Driver is the tool's main component (SARIF's toolComponent).
type Driver struct {
	Name           string `json:"name"`
	InformationURI string `json:"informationUri,omitempty"`
	Version        string `json:"version,omitempty"`
	Rules          []Rule `json:"rules,omitempty"`
}

// Message is plain text.
type Message struct {
	Text string `json:"text"`
}

// Rule describes what a result's RuleID means (SARIF's
// reportingDescriptor).
type Rule struct {
	ID                   string          `json:"id"`
	Name                 string          `json:"name,omitempty"` // PascalCase, as viewers show it
	ShortDescription     Message         `json:"shortDescription"`
	FullDescription      *Message        `json:"fullDescription,omitempty"`
	Help                 *Message        `json:"help,omitempty"`
	HelpURI              string          `json:"helpUri,omitempty"`
	DefaultConfiguration *RuleConfig     `json:"defaultConfiguration,omitempty"`
	Properties           *RuleProperties `json:"properties,omitempty"`
}

// RuleConfig is a rule's level and whether it runs.
type RuleConfig struct {
	Level   string `json:"level"`
	Enabled bool   `json:"enabled"`
}

// RuleProperties are the property-bag entries GitHub code scanning reads.
type RuleProperties struct {
	Tags []string `json:"tags,omitempty"`
	// SecuritySeverity is GitHub's: 9.0+ critical, 7.0+ high, 4.0+
	// medium, below low.
	SecuritySeverity string `json:"security-severity,omitempty"`
	// Precision is "very-high", "high", "medium" or "low".
	Precision string `json:"precision,omitempty"`
}

// Result is one finding.
type Result struct {
	RuleID string `json:"ruleId"`
	// RuleIndex is the rule's index in Driver.Rules; nil leaves it to
	// RuleID.
	RuleIndex *int       `json:"ruleIndex,omitempty"`
	Level     string     `json:"level"`
	Message   Message    `json:"message"`
	Locations []Location `json:"locations"`
	// RelatedLocations are other places a Message may point to, each with
	// an ID.
	RelatedLocations []Location `json:"relatedLocations,omitempty"`
	// PartialFingerprints identify a result across runs, so that GitHub
	// matches an alert from one commit to the next although lines move.
	PartialFingerprints map[string]string `json:"partialFingerprints,omitempty"`
	Suppressions        []Suppression     `json:"suppressions,omitempty"`
	Properties          map[string]string `json:"properties,omitempty"`
}

// Location is a place in an artifact, and optionally its logical name.
type Location struct {
	ID               *int              `json:"id,omitempty"`
	PhysicalLocation PhysicalLocation  `json:"physicalLocation"`
	LogicalLocations []LogicalLocation `json:"logicalLocations,omitempty"`
	Message          *Message          `json:"message,omitempty"`
}

// PhysicalLocation is an artifact and a region of it.
type PhysicalLocation struct {
	ArtifactLocation ArtifactLocation `json:"artifactLocation"`
	Region           *Region          `json:"region,omitempty"` // nil: the whole artifact
}

// ArtifactLocation is a URI reference: see ArtifactURI for files.
type ArtifactLocation struct {
	URI string `json:"uri"`
}

// Region is a 1-based line and column (counted as Run.ColumnKind says).
type Region struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

// LogicalLocation names the place in the artifact's structure: a JSON
// path, a function.
type LogicalLocation struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

// Suppression says why a result is not counted.
type Suppression struct {
	Kind          string `json:"kind"` // "inSource" or "external"
	Justification string `json:"justification"`
}

// Invocation is whether the run succeeded, and its notifications.
type Invocation struct {
	ExecutionSuccessful        bool           `json:"executionSuccessful"`
	ToolExecutionNotifications []Notification `json:"toolExecutionNotifications,omitempty"`
	ToolConfigNotifications    []Notification `json:"toolConfigurationNotifications,omitempty"`
}

// Notification is a problem of the run itself (an input that could not
// be read) or of its configuration.
type Notification struct {
	Level     string     `json:"level"`
	Message   Message    `json:"message"`
	Locations []Location `json:"locations,omitempty"`
}

// Write writes a log of runs to w as indented JSON, with <, > and & as
// they are (SARIF viewers read JSON, not HTML).
func Write(w io.Writer, runs ...Run) error {
	for i := range runs {
		if runs[i].Results == nil {
			runs[i].Results = []Result{}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(Log{Schema: SchemaURI, Version: Version, Runs: runs})
}

// ArtifactURI makes a file path a URI reference: relative paths stay
// relative (GitHub resolves them against the repository's root, so run the
// tool from there), absolute ones become file:// URIs, and "-" is
// standard input, "stdin".
func ArtifactURI(path string) string {
	if path == "-" {
		return "stdin"
	}
	if filepath.IsAbs(path) {
		return (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String()
	}
	return (&url.URL{Path: strings.TrimPrefix(filepath.ToSlash(filepath.Clean(path)), "./")}).String()
}
