package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a policy document, at a line of its source
// (0 when the problem has no single place).
type Problem struct {
	Line    int
	Message string
}

// Error is every problem found in one policy document. Load and Compile
// return it; its Error method prints one "FILE:LINE: message" per line.
type Error struct {
	File     string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s:%d: %s", e.File, p.Line, p.Message)
	}
	return b.String()
}

// ErrInvalid matches every *Error with errors.Is.
var ErrInvalid = errors.New("policy: invalid document")

// Is makes errors.Is(err, ErrInvalid) true for an *Error.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// LoadFile reads and parses the policy document at path; see Load.
func LoadFile(path string) (*Document, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read policy %q: %w", path, err)
	}
	return Load(path, data)
}

// Load parses data strictly (unknown fields, duplicate keys and wrong types
// are errors) and validates it (duplicate ids, dangling references, bad
// CIDRs, rates, sizes and durations, overlapping routes, privileged scopes on
// ordinary classes). The returned error is an *Error listing every problem
// with its line; name is the file name it reports.
func Load(name string, data []byte) (*Document, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Error{File: name, Problems: yamlProblems(err)}
	}
	var doc Document
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, &Error{File: name, Problems: yamlProblems(err)}
	}
	v := validator{lines: newLines(&root)}
	v.document(&doc)
	if len(v.problems) > 0 {
		sort.SliceStable(v.problems, func(i, j int) bool { return v.problems[i].Line < v.problems[j].Line })
		return nil, &Error{File: name, Problems: v.problems}
	}
	return &doc, nil
}

var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// yamlProblems splits a yaml error into problems with line numbers.
func yamlProblems(err error) []Problem {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		ps := make([]Problem, 0, len(te.Errors))
		for _, e := range te.Errors {
			ps = append(ps, lineProblem(e))
		}
		return ps
	}
	return []Problem{lineProblem(strings.TrimPrefix(err.Error(), "yaml: "))}
}

func lineProblem(s string) Problem {
	s = strings.Replace(s, " in type policy.", " in ", 1)
	if m := yamlLine.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Problem{Line: n, Message: m[2]}
	}
	return Problem{Message: s}
}

// lines finds the source line of list items and their fields.
type lines struct {
	sections map[string]*yaml.Node // top-level key -> value node
}

func newLines(root *yaml.Node) lines {
	l := lines{sections: map[string]*yaml.Node{}}
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		l.sections[root.Content[i].Value] = root.Content[i+1]
	}
	return l
}

// item returns the node of item i of the top-level list section.
func (l lines) item(section string, i int) *yaml.Node {
	n := l.sections[section]
	if n == nil || i >= len(n.Content) {
		return nil
	}
	return n.Content[i]
}

// at returns the line of field (or of the item when field is "") of item i
// of section; with a non-negative elem it is the line of element elem of a
// list field.
func (l lines) at(section string, i int, field string, elem int) int {
	n := l.item(section, i)
	if n == nil {
		if s := l.sections[section]; s != nil {
			return s.Line
		}
		return 0
	}
	if field == "" {
		return n.Line
	}
	f := mapValue(n, field)
	if f == nil {
		return n.Line
	}
	if elem >= 0 && elem < len(f.Content) && f.Kind == yaml.SequenceNode {
		return f.Content[elem].Line
	}
	return f.Line
}

// section returns the line of a top-level section, or def when it is missing.
func (l lines) section(name string, def int) int {
	if n := l.sections[name]; n != nil {
		return n.Line
	}
	return def
}

// field returns the line of a field of a top-level mapping section.
func (l lines) field(section, field string) int {
	n := l.sections[section]
	if n == nil {
		return 0
	}
	if f := mapValue(n, field); f != nil {
		return f.Line
	}
	return n.Line
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
