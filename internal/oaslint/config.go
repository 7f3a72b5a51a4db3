package oaslint

import (
	"errors"
	"path/filepath"
	"strings"
)

// A Config turns rules off or changes their severity, team-wide: it is a
// file in the repository (tlsgate lint --rules FILE), so that every
// change is reviewed. A nil *Config keeps every rule at its default.
//
//	# .tlsgate-lint.yaml
//	rules:
//	  http-localhost: off        # our published document lists a dev server
//	  apikey-in-query: error
//
// Findings of a rule that is off are still counted and listed as
// suppressed, so that nothing is silenced invisibly.
type Config struct {
	// File is where the configuration was read from.
	File string
	// Rules maps rule IDs to their setting; rules not listed keep their
	// default.
	Rules map[string]RuleConfig
}

// RuleConfig is the setting of one rule.
type RuleConfig struct {
	Off      bool
	Severity Severity // when not Off
	Line     int      // of the setting in Config.File
}

// LoadConfig reads a configuration file. Unknown keys and rule IDs are
// errors, all reported at once with their lines.
func LoadConfig(path string) (*Config, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, &LoadError{File: path, Msg: readMsg(err), Err: err}
	}
	return ParseConfig(path, data)
}

// ParseConfig parses a configuration; name is used in messages.
func ParseConfig(name string, data []byte) (*Config, error) {
	abs, _ := filepath.Abs(name)
	f, err := parseFile(name, abs, string(data))
	if err != nil {
		return nil, err
	}
	c := &Config{File: name, Rules: map[string]RuleConfig{}}
	if f.root == nil {
		return c, nil
	}
	if f.root.kind != mappingNode {
		return nil, f.errorAt(f.root.off, "want a mapping with a rules key")
	}
	var errs []error
	for i := 0; i+1 < len(f.root.content); i += 2 {
		k, v := &f.root.content[i], &f.root.content[i+1]
		if k.value != "rules" {
			errs = append(errs, f.errorAt(k.off, "unknown key %q: the file has one key, rules", k.value))
			continue
		}
		if v.kind == scalarNode && v.tag == tagNull {
			continue
		}
		if v.kind != mappingNode {
			errs = append(errs, f.errorAt(v.off, "rules: want a mapping of rule ids to off, error, warning or info"))
			continue
		}
		for j := 0; j+1 < len(v.content); j += 2 {
			rk, rv := &v.content[j], &v.content[j+1]
			if _, ok := LookupRule(rk.value); !ok {
				errs = append(errs, f.errorAt(rk.off, "rules.%s: unknown rule%s (rules: %s)", rk.value, suggestRule(rk.value), ruleIDs()))
				continue
			}
			line, _ := f.position(rk.off)
			text, _ := rv.text()
			if rv.kind == scalarNode && (strings.EqualFold(text, "off") || rv.tag == tagBool && text == "false") {
				c.Rules[rk.value] = RuleConfig{Off: true, Line: line}
				continue
			}
			sev, err := ParseSeverity(text)
			if err != nil || rv.kind != scalarNode {
				errs = append(errs, f.errorAt(rv.off, "rules.%s: %q: use off, error, warning or info", rk.value, text))
				continue
			}
			c.Rules[rk.value] = RuleConfig{Severity: sev, Line: line}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// suggestRule names the rule nearest to a misspelt id.
func suggestRule(id string) string {
	best, bestD := "", len(id)/3+1
	for _, r := range rules {
		if d := editDistance(r.ID, id, bestD); d < bestD {
			best, bestD = r.ID, d
		}
	}
	if best == "" {
		return ""
	}
	return ` (did you mean "` + best + `"?)`
}
