package sarif

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func schema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "sarif-2.1.0-rtm.5.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("sarif-2.1.0-rtm.5.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("sarif-2.1.0-rtm.5.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, out string) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	return s.Validate(inst)
}

// TestWriteValid writes a log with every field filled in and one with
// only the required ones: both are valid SARIF 2.1.0, and the check
// catches a broken one.
func TestWriteValid(t *testing.T) {
	t.Parallel()
	s := schema(t)
	zero, one := 0, 1
	full := Run{
		Tool: Tool{Driver: Driver{Name: "tool", InformationURI: "https://example.com/tool", Version: "1.0", Rules: []Rule{{
			ID: "rule-one", Name: "RuleOne", ShortDescription: Message{"short"}, FullDescription: &Message{"full"}, Help: &Message{"help"},
			HelpURI: "https://example.com/tool#rule-one", DefaultConfiguration: &RuleConfig{Level: LevelWarning, Enabled: false},
			Properties: &RuleProperties{Tags: []string{"security"}, SecuritySeverity: "5.0", Precision: "high"},
		}}}},
		Invocations: []Invocation{{ExecutionSuccessful: false,
			ToolExecutionNotifications: []Notification{{Level: LevelError, Message: Message{"cannot read b.yaml"},
				Locations: []Location{{PhysicalLocation: PhysicalLocation{ArtifactLocation: ArtifactLocation{"b.yaml"}}}}}},
			ToolConfigNotifications: []Notification{{Level: LevelNote, Message: Message{"unused"}}},
		}},
		ColumnKind: "unicodeCodePoints",
		Results: []Result{{
			RuleID: "rule-one", RuleIndex: &zero, Level: LevelWarning, Message: Message{"a <finding> & more"},
			Locations: []Location{{PhysicalLocation: PhysicalLocation{ArtifactLocation: ArtifactLocation{ArtifactURI("./a.yaml")}, Region: &Region{StartLine: 3, StartColumn: 5}},
				LogicalLocations: []LogicalLocation{{FullyQualifiedName: "$.servers[0].url", Kind: "member"}}}},
			RelatedLocations: []Location{{ID: &one, PhysicalLocation: PhysicalLocation{ArtifactLocation: ArtifactLocation{"a.yaml"}, Region: &Region{StartLine: 1}},
				Message: &Message{"defined here"}}},
			PartialFingerprints: map[string]string{"tool/v1": "abc"},
			Suppressions:        []Suppression{{Kind: "inSource", Justification: "tested"}},
			Properties:          map[string]string{"severity": "medium"},
		}},
	}
	minimal := Run{Tool: Tool{Driver: Driver{Name: "tool"}}}
	for name, run := range map[string]Run{"full": full, "minimal": minimal} {
		var b bytes.Buffer
		if err := Write(&b, run); err != nil {
			t.Fatal(err)
		}
		if err := validate(t, s, b.String()); err != nil {
			t.Errorf("%s: not valid SARIF 2.1.0: %v\n%s", name, err, b.String())
		}
		if name == "minimal" && !strings.Contains(b.String(), `"results": []`) {
			t.Errorf("nil results not written as []:\n%s", b.String())
		}
		if name == "full" && !strings.Contains(b.String(), `"a <finding> & more"`) {
			t.Errorf("HTML characters escaped:\n%s", b.String())
		}
		if name == "full" {
			broken := strings.Replace(b.String(), `"level": "warning"`, `"level": "fatal"`, 1)
			if validate(t, s, broken) == nil {
				t.Error("the schema accepts a result of level fatal: the validation checks nothing")
			}
		}
	}
}

func TestArtifactURI(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"-":                  "stdin",
		"./specs/api.yaml":   "specs/api.yaml",
		"../bad/x.yaml":      "../bad/x.yaml",
		"a b/c#d.yaml":       "a%20b/c%23d.yaml",
		"/srv/specs/a.yaml":  "file:///srv/specs/a.yaml",
		"specs//multi/a.yml": "specs/multi/a.yml",
	} {
		if got := ArtifactURI(in); got != want {
			t.Errorf("ArtifactURI(%q) = %q, want %q", in, got, want)
		}
	}
}
