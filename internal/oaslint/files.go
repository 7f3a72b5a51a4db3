package oaslint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// An Input is a file to lint.
type Input struct {
	// Path is the file's path, or "-" for standard input.
	Path string
	// Found is set for files found in a directory or by a glob pattern
	// rather than named: those that turn out not to be OpenAPI documents
	// (other YAML, fragments that $refs name) are skipped, not errors.
	Found bool
}

// Expand turns file names, directories and glob patterns ("specs/*.yaml",
// "api/**/*.json") into inputs, each once, in a stable order. Directories
// are searched recursively for .yaml, .yml and .json files, skipping
// hidden directories and node_modules. A pattern that matches nothing is
// an error; a name that does not exist is left for Load to report.
func Expand(args []string) ([]Input, error) {
	var out []Input
	seen := map[string]int{}
	add := func(p string, found bool) {
		key := p
		if a, err := filepath.Abs(p); err == nil && p != "-" {
			key = a
		}
		if i, ok := seen[key]; ok {
			// Named as well as found: named wins, and it must be OpenAPI.
			out[i].Found = out[i].Found && found
			return
		}
		seen[key] = len(out)
		out = append(out, Input{Path: p, Found: found})
	}
	for _, a := range args {
		if a == "-" {
			add(a, false)
			continue
		}
		fi, err := os.Stat(a)
		switch {
		case err == nil && fi.IsDir():
			files, err := walkDir(a)
			if err != nil {
				return nil, err
			}
			for _, f := range files {
				add(f, true)
			}
		case err == nil || !strings.ContainsAny(a, "*?["):
			add(a, false)
		default:
			matches, err := glob(a)
			if err != nil {
				return nil, err
			}
			if len(matches) == 0 {
				return nil, fmt.Errorf("no files match %q", a)
			}
			for _, m := range matches {
				add(m, true)
			}
		}
	}
	return out, nil
}

func isSpecFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

func skipDir(name string) bool {
	return name == "node_modules" || len(name) > 1 && strings.HasPrefix(name, ".")
}

func walkDir(root string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if isSpecFile(p) && d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}

// glob matches a pattern whose ** stands for any number of directories.
func glob(pattern string) ([]string, error) {
	pattern = filepath.ToSlash(pattern)
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("bad pattern %q: %w", pattern, err)
	}
	if !strings.Contains(pattern, "**") {
		m, err := filepath.Glob(filepath.FromSlash(pattern))
		var files []string
		for _, f := range m {
			if fi, err := os.Stat(f); err == nil && !fi.IsDir() {
				files = append(files, f)
			}
		}
		return files, err
	}
	// Walk from the longest directory prefix without wildcards.
	segs := strings.Split(pattern, "/")
	i := 0
	for i < len(segs)-1 && !strings.ContainsAny(segs[i], "*?[") {
		i++
	}
	root := strings.Join(segs[:i], "/")
	if root == "" && strings.HasPrefix(pattern, "/") {
		root = "/"
	}
	walkRoot := root
	if walkRoot == "" {
		walkRoot = "."
	}
	var out []string
	err := filepath.WalkDir(filepath.FromSlash(walkRoot), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			if p != filepath.FromSlash(walkRoot) && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		rel := filepath.ToSlash(p)
		if root == "" {
			rel = strings.TrimPrefix(rel, "./")
		}
		if matchSegs(segs, strings.Split(rel, "/")) {
			out = append(out, p)
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}

func matchSegs(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for k := 0; k <= len(name); k++ {
				if matchSegs(pat[1:], name[k:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// looksLikeOpenAPI says whether a file that failed to parse was meant to
// be an OpenAPI document, so that in a directory its errors are reported
// rather than the file skipped.
var looksLikeOpenAPI = regexp.MustCompile(`["']?\b(openapi|swagger)["']?\s*:\s*["']?[23]`)

// LintFiles loads and lints inputs in parallel (Jobs at once) and returns
// one report per input, in the same order. A file that cannot be linted
// has Report.Err set; when ctx ends, the inputs not yet started get its
// error.
func (l *Linter) LintFiles(ctx context.Context, inputs []Input) []*Report {
	reports := make([]*Report, len(inputs))
	jobs := l.Jobs
	if jobs <= 0 {
		jobs = runtime.GOMAXPROCS(0)
	}
	var stdin []byte
	var stdinErr error
	var stdinOnce sync.Once
	readStdin := func() ([]byte, error) {
		stdinOnce.Do(func() {
			if l.Stdin == nil {
				stdinErr = errors.New("no standard input")
				return
			}
			stdin, stdinErr = io.ReadAll(io.LimitReader(l.Stdin, MaxFileSize+1))
			if len(stdin) > MaxFileSize {
				stdinErr = fmt.Errorf("larger than %d MiB", MaxFileSize>>20)
			}
		})
		return stdin, stdinErr
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(jobs, len(inputs)) {
		wg.Go(func() {
			for i := range next {
				reports[i] = l.lintInput(ctx, inputs[i], readStdin)
			}
		})
	}
	for i := range inputs {
		next <- i
	}
	close(next)
	wg.Wait()
	return reports
}

func (l *Linter) lintInput(ctx context.Context, in Input, readStdin func() ([]byte, error)) *Report {
	rep := &Report{File: in.Path}
	if err := ctx.Err(); err != nil {
		rep.Err = &LoadError{File: in.Path, Msg: "not linted: " + err.Error(), Err: err}
		return rep
	}
	var doc *Document
	var err error
	if in.Path == "-" {
		var data []byte
		if data, err = readStdin(); err != nil {
			err = &LoadError{File: "-", Msg: "reading standard input: " + err.Error(), Err: err}
		} else {
			doc, err = Parse("-", data)
		}
	} else {
		doc, err = Load(in.Path)
	}
	if err != nil {
		if in.Found && skippable(in.Path, err) {
			rep.Skipped = true
			return rep
		}
		rep.Err = err
		return rep
	}
	return l.Lint(doc)
}

// skippable says whether a file found in a directory is not meant as an
// OpenAPI document: it parsed and is something else, or it failed to
// parse and does not look like OpenAPI either.
func skippable(name string, err error) bool {
	var le *LoadError
	if !errors.As(err, &le) || le.File != name {
		return false // a problem in a file a $ref names
	}
	if le.notOpenAPI {
		return true
	}
	if le.inDocument {
		return false
	}
	if le.Line == 0 && le.Err != nil {
		return false // cannot be read
	}
	f, ferr := os.Open(name)
	if ferr != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, _ := io.ReadFull(f, head)
	return !looksLikeOpenAPI.Match(head[:n])
}
