package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// One flag vocabulary for every subcommand: the same meaning has the same
// name everywhere.
//
//	--format FORMAT  what is printed: text, json, and per command sarif,
//	                 github, junit; --json is --format json
//	--color WHEN     auto, always or never; --no-color is --color never
//	--jobs N         how many inputs are worked on at once;
//	                 --concurrency is --jobs
//
// The other spellings, which 'tlsgate scan' and 'tlsgate ca list' once
// had, stay as aliases: they parse, messages name a flag as it was typed,
// and usage text shows the canonical spelling only, its help mentioning
// the alias.

// flagSet is a subcommand's flags, with the aliases of its shared flags.
type flagSet struct {
	*flag.FlagSet
	aliases        map[string]string // alias -> canonical name
	choices        []*choice         // checked by parse
	stdout, stderr io.Writer
}

// newFlagSet returns the flags of a subcommand whose help is usage
// followed by the flags. Help that was asked for (-h, --help) goes to
// stdout, so that it can be paged; after a usage error it goes to stderr.
func newFlagSet(name, usage string, stdout, stderr io.Writer) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), aliases: map[string]string{},
		stdout: stdout, stderr: stderr}
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.printDefaults() }
	return fs
}

// Parse is flag.FlagSet.Parse with what it prints sent to stdout when
// help was asked for, to stderr otherwise.
func (fs *flagSet) Parse(args []string) error {
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.FlagSet.Parse(args)
	fs.SetOutput(fs.stderr)
	w := fs.stderr
	if errors.Is(err, flag.ErrHelp) {
		w = fs.stdout
	}
	w.Write(buf.Bytes())
	return err
}

// parse parses flags wherever they stand among the arguments, checks the
// choices (--format, --color) and returns the positional arguments.
func (fs *flagSet) parse(args []string) ([]string, error) {
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, err
	}
	for _, c := range fs.choices {
		if err := c.resolve(); err != nil {
			return nil, err
		}
	}
	return pos, nil
}

// parseInterspersed parses flags wherever they stand among positional
// arguments ("issue client payments --uri ..."), which the flag package
// alone stops at, and returns the positional arguments.
func parseInterspersed(fs *flagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, parseErr(err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// commandHelp answers a command that has subcommands (ca init, ca list,
// ...) when args name none or ask for help: it prints usage and returns
// help true: on stderr with a usage error saying missing when args are
// empty, on stdout with flag.ErrHelp when asked for.
func commandHelp(args []string, usage string, stdout, stderr io.Writer, missing string) (help bool, err error) {
	if len(args) > 0 && !isHelp(args[0]) {
		return false, nil
	}
	// The flags are the subcommands': the heading for them is left out.
	usage = strings.TrimSuffix(usage, "Flags:\n")
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return true, usagef("%s", missing)
	}
	fmt.Fprint(stdout, usage)
	return true, flag.ErrHelp
}

// isHelp says whether arg asks for help in place of a subcommand.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// printDefaults prints the flags as flag.PrintDefaults does, without the
// aliases.
func (fs *flagSet) printDefaults() {
	shown := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	shown.SetOutput(fs.Output())
	fs.VisitAll(func(f *flag.Flag) {
		if _, alias := fs.aliases[f.Name]; !alias {
			shown.Var(f.Value, f.Name, f.Usage)
			shown.Lookup(f.Name).DefValue = f.DefValue // not what a flag before -h set
		}
	})
	shown.PrintDefaults()
}

// spelled is the flag name as the command line gave it, "--" included:
// an alias of name if only the alias was given.
func (fs *flagSet) spelled(name string) string {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if !given[name] {
		for alias, canonical := range fs.aliases {
			if canonical == name && given[alias] {
				return "--" + alias
			}
		}
	}
	return "--" + name
}

// format adds --format, whose value is one of formats (the first is the
// default), and --json for --format json when json is one of them.
func (fs *flagSet) format(formats ...string) *choice {
	c := &choice{name: "format", value: formats[0], words: formats}
	usage := "output `FORMAT`: " + orList(formats)
	if slices.Contains(formats, "json") {
		usage += " (--json is --format json)"
		fs.boolAlias("json", c, "json")
	}
	fs.Var(c, "format", usage)
	fs.choices = append(fs.choices, c)
	return c
}

// color adds --color auto|always|never, and --no-color for --color never.
func (fs *flagSet) color() *choice {
	c := &choice{name: "color", value: "auto", words: []string{"auto", "always", "never"}}
	fs.Var(c, "color", "colour text output `WHEN`: auto (on a terminal, unless $NO_COLOR is set), always or never (--no-color is --color never)")
	fs.boolAlias("no-color", c, "never")
	fs.choices = append(fs.choices, c)
	return c
}

// jobs adds --jobs N, and --concurrency for it.
func (fs *flagSet) jobs(def int, usage string) *int {
	n := fs.Int("jobs", def, usage+" (--concurrency is --jobs)")
	fs.Var(fs.Lookup("jobs").Value, "concurrency", "")
	fs.aliases["concurrency"] = "jobs"
	return n
}

// boolAlias adds --alias, a boolean flag that sets c to value.
func (fs *flagSet) boolAlias(alias string, c *choice, value string) {
	fs.Var(&impliedChoice{c: c, alias: alias, value: value}, alias, "")
	fs.aliases[alias] = c.name
}

// choice is the value of a flag that takes one of a few words. Any word
// parses; flagSet.parse then checks it (resolve), so that the message is
// the command's own, not the flag package's, and value is the word.
type choice struct {
	name  string // the canonical flag
	value string
	words []string
	given bool // set by its canonical name
	// implied is the alias that was given, and impliedValue what it means.
	implied, impliedValue string
}

func (c *choice) String() string {
	if c == nil {
		return ""
	}
	return c.value
}

func (c *choice) Set(s string) error { c.value, c.given = s, true; return nil }

// resolve applies an alias to value after parsing: a usage error names a
// word that is not one of the choice's, or an alias contradicted by the
// canonical flag.
func (c *choice) resolve() error {
	if c.implied != "" {
		if c.given && c.value != c.impliedValue {
			return usagef("--%s and --%s %s contradict each other", c.implied, c.name, c.value)
		}
		c.value = c.impliedValue
	}
	if !slices.Contains(c.words, c.value) {
		return usagef("--%s %q: use %s", c.name, c.value, orList(c.words))
	}
	return nil
}

// impliedChoice is a boolean alias that sets a choice: --json, --no-color.
type impliedChoice struct {
	c            *choice
	alias, value string
}

func (a *impliedChoice) IsBoolFlag() bool { return true }

func (a *impliedChoice) String() string {
	if a == nil || a.c == nil || a.c.implied == "" {
		return "false"
	}
	return "true"
}

func (a *impliedChoice) Set(s string) error {
	on, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	a.c.implied, a.c.impliedValue = "", ""
	if on {
		a.c.implied, a.c.impliedValue = a.alias, a.value
	}
	return nil
}

// useColor says whether text output to w is coloured: with --color auto,
// only on a terminal, unless $NO_COLOR is set (https://no-color.org) or
// the terminal is dumb.
func useColor(when string, w io.Writer) bool {
	switch when {
	case "always":
		return true
	case "auto":
		return isTerminal(w) && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
	}
	return false
}

// orList joins words as "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
