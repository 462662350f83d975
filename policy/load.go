package policy

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
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

// Error returns the problems, one "FILE:LINE: message" per line.
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

// MaxDocumentBytes is the largest policy document LoadFile (and the
// portcullis commands and sidecar that read a policy file) reads: a file
// over it is refused, never read whole. A policy of 100,000 keys, 100
// clients and 1,000 routes, the largest the benchmarks compile
// (BenchmarkCompileScale), is 16 MB in YAML; the cap leaves it room for
// every optional field and comment.
const MaxDocumentBytes = 64 << 20

// LoadFile reads and parses the policy document at path; see Load. A file
// over MaxDocumentBytes is refused.
func LoadFile(path string) (*Document, error) {
	data, err := readCapped(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read policy %q: %w", path, err)
	}
	return Load(path, data)
}

// readCapped reads the file at path, refusing one over MaxDocumentBytes.
func readCapped(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > MaxDocumentBytes {
		return nil, fmt.Errorf("too large: it is %d bytes, over the cap of %d MiB", fi.Size(), MaxDocumentBytes>>20)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxDocumentBytes+1))
	if err == nil && len(data) > MaxDocumentBytes {
		err = fmt.Errorf("too large: over the cap of %d MiB", MaxDocumentBytes>>20)
	}
	return data, err
}

// Load parses data strictly (unknown fields, duplicate keys and wrong types
// are errors) and validates it (duplicate ids, dangling references, bad
// CIDRs, rates, sizes and durations, overlapping routes, privileged scopes on
// ordinary classes). The returned error is an *Error listing every problem
// with its line; name is the file name it reports.
func Load(name string, data []byte) (*Document, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Error{File: name, Problems: []Problem{syntaxProblem(data, err)}}
	}
	if p, ok := secondDocument(data); ok {
		return nil, &Error{File: name, Problems: []Problem{p}}
	}
	var doc Document
	ps, schema, quiet := decodeStrict(&root, &doc)
	v := validator{lines: newLines(&root), problems: schema}
	v.document(&doc)
	if ps = append(ps, afterDecode(ps, quiet, v.problems)...); len(ps) > 0 {
		return nil, &Error{File: name, Problems: sortProblems(ps)}
	}
	doc.source = sha256.Sum256(data)
	return &doc, nil
}

// secondDocument reports a YAML document after the first (after a '---'),
// which yaml.Unmarshal would drop without a word: a policy is one document.
func secondDocument(data []byte) (Problem, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var first, next yaml.Node
	if dec.Decode(&first) != nil {
		return Problem{}, false // Unmarshal's error, or empty input
	}
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
		return Problem{}, false
	case err != nil:
		p := syntaxProblem(data, err)
		if p.Line == 1 { // not on the first document's line: unknown
			p.Line = 0
		}
		p.Message = "a policy is one YAML document; a second one follows and does not parse: " + p.Message
		return p, true
	}
	return Problem{Line: next.Line, Message: "a policy is one YAML document; a second one starts here (remove the '---' and merge it)"}, true
}

// decodeStrict decodes root into doc and returns every duplicate key,
// unknown field and wrong type, and apart from them the values that
// decode but break a rule of schema.json seen only in the source (see
// present), and the lines whose validation problems to hold back (see
// strictWalker.quiet). yaml's own strict decoder stops at the first mapping with a
// duplicate key and hides the other problems in it, so duplicates and
// unknown fields are found by walking the tree first.
func decodeStrict(root *yaml.Node, doc *Document) (decoding, schema []Problem, quiet map[int]bool) {
	if root.Kind == 0 {
		return nil, nil, nil // empty input: the zero Document
	}
	w := strictWalker{seen: map[walked]bool{}, shaped: map[int]bool{}}
	w.walk(root, reflect.TypeOf(doc))
	if err := root.Decode(doc); err != nil {
		for _, p := range yamlProblems(err) {
			if !w.shaped[p.Line] { // said already, naming the field
				w.problems = append(w.problems, p)
			}
		}
	}
	return w.problems, w.schema, w.quiet
}

// afterDecode returns the validation problems not on a line that already
// has a decoding problem, nor on a quiet one: a value that did not decode is
// validated as its zero value, and saying so again would only repeat the
// first problem.
func afterDecode(decoding []Problem, quiet map[int]bool, validation []Problem) []Problem {
	bad := maps.Clone(quiet)
	if bad == nil {
		bad = map[int]bool{}
	}
	for _, p := range decoding {
		bad[p.Line] = true
	}
	var out []Problem
	for _, p := range validation {
		if !bad[p.Line] {
			out = append(out, p)
		}
	}
	return out
}

func sortProblems(ps []Problem) []Problem {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	return ps
}

// walked is a node checked against a type, so that an aliased node is
// checked once per type it is used as.
type walked struct {
	n    *yaml.Node
	t    reflect.Type
	part bool
}

// strictWalker finds duplicate mapping keys (keeping only the first, so
// that decoding can go on) and keys that name no field of the target struct.
type strictWalker struct {
	problems []Problem
	schema   []Problem // see present
	seen     map[walked]bool
	shaped   map[int]bool // lines with a value of the wrong shape, said by shape
	// quiet are the lines of mappings with an unknown field: the field
	// was likely meant as another, so what validation says is missing
	// there ("clas: standard", then a route without a class) is held back.
	quiet map[int]bool
}

func (w *strictWalker) addf(line int, format string, args ...any) {
	w.problems = append(w.problems, Problem{Line: line, Message: fmt.Sprintf(format, args...)})
}

func (w *strictWalker) walk(n *yaml.Node, t reflect.Type) { w.walkPart(n, t, false) }

// walkPart is walk; part says n is merged into a mapping (a merge key's
// value), so a field it lacks may be in that mapping.
func (w *strictWalker) walkPart(n *yaml.Node, t reflect.Type, part bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			w.walk(c, t)
		}
	case yaml.AliasNode:
		if k := (walked{n.Alias, t, part}); n.Alias != nil && !w.seen[k] {
			w.seen[k] = true
			w.walkPart(n.Alias, t, part)
		}
	case yaml.SequenceNode:
		if t.Kind() == reflect.Slice {
			for _, c := range n.Content {
				w.walk(c, t.Elem())
			}
		}
	case yaml.MappingNode:
		w.dedupe(n)
		if t.Kind() == reflect.Struct {
			w.fields(n, t, part)
		}
	case yaml.ScalarNode:
		// yaml decodes YAML 1.1's yes, no, on, off, y and n into a bool, even
		// quoted (other strings are its type error); schema.json's booleans
		// are true and false only.
		if t.Kind() == reflect.Bool && n.ShortTag() == "!!str" && yaml11Bools[n.Value] {
			w.addf(n.Line, "%q is not a boolean: write true or false", n.Value)
		}
	}
}

// yaml11Bools are the strings yaml decodes into a bool besides true and false.
var yaml11Bools = map[string]bool{}

func init() {
	for _, v := range strings.Fields("y Y yes Yes YES n N no No NO on On ON off Off OFF") {
		yaml11Bools[v] = true
	}
}

// dedupe reports and drops every key of n already defined earlier in n.
func (w *strictWalker) dedupe(n *yaml.Node) {
	type key struct {
		kind  yaml.Kind
		value string
	}
	first := map[key]int{}
	kept := n.Content[:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if line, dup := first[key{k.Kind, k.Value}]; dup {
			w.addf(k.Line, "mapping key %q already defined at line %d", k.Value, line)
			continue
		}
		first[key{k.Kind, k.Value}] = k.Line
		kept = append(kept, k, n.Content[i+1])
	}
	n.Content = kept
}

// fields checks the keys of n against the yaml fields of struct t and walks
// the values; merge keys ("<<") are checked against t too.
func (w *strictWalker) fields(n *yaml.Node, t reflect.Type, part bool) {
	known := yamlFields(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			w.merge(v, t)
			continue
		}
		ft, ok := known[k.Value]
		if !ok {
			if near := nearest(k.Value, known); near != "" {
				w.addf(k.Line, "field %s not found in %s (did you mean %s?)", k.Value, t.Name(), near)
			} else {
				w.addf(k.Line, "field %s not found in %s", k.Value, t.Name())
			}
			if t != reflect.TypeFor[Document]() { // the whole document's problems at its first line stay
				if w.quiet == nil {
					w.quiet = map[int]bool{}
				}
				w.quiet[n.Line] = true
			}
			continue
		}
		if w.shape(k.Value, v, ft) {
			continue
		}
		w.items(k.Value, v, ft)
		w.present(t, k.Value, v)
		w.walk(v, ft)
	}
	if !part {
		w.written(n, t)
	}
}

// shape reports a value of field key whose shape does not fit the field's
// type t (a string for a number, a list or a mapping, a list for a single
// value), naming the field: yaml's own error, "cannot unmarshal !!str `ten`
// into int64", names neither the field nor what it wants.
func (w *strictWalker) shape(key string, v *yaml.Node, t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	var want string
	switch t.Kind() {
	case reflect.Slice:
		want = "a list"
	case reflect.Struct, reflect.Map:
		want = "a mapping"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		want = "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		want = "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		want = "a number"
	case reflect.Bool:
		want = "true or false"
	case reflect.String:
		want = "a single value"
	default:
		return false
	}
	var got string
	switch v.Kind {
	case yaml.SequenceNode:
		if t.Kind() == reflect.Slice {
			return false
		}
		got = "a list"
	case yaml.MappingNode:
		if want == "a mapping" {
			return false
		}
		got = "a mapping"
	case yaml.ScalarNode:
		if v.ShortTag() == "!!null" || v.Decode(reflect.New(t).Interface()) == nil {
			return false
		}
		got = strconv.Quote(v.Value)
		quoted := v.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0
		switch {
		case t.Kind() == reflect.Slice:
			got += " (write [" + v.Value + "])"
		case quoted && (&yaml.Node{Kind: yaml.ScalarNode, Value: v.Value}).Decode(reflect.New(t).Interface()) == nil:
			got = "the quoted string " + got + " (write it without quotes)"
		}
	default:
		return false
	}
	w.addf(v.Line, "%s: want %s, got %s", key, want, got)
	w.shaped[v.Line] = true
	return true
}

// items reports the items of list v, of field key, whose shape does not
// fit the list's element type (a list in a list of names).
func (w *strictWalker) items(key string, v *yaml.Node, t reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	if v.Kind != yaml.SequenceNode || t.Kind() != reflect.Slice {
		return
	}
	for _, c := range v.Content {
		w.shape(key+" item", c, t.Elem())
	}
}

// nearest returns the field of known a typo of name most likely meant
// (at most two edits away, and fewer than half its letters), or "".
func nearest(name string, known map[string]reflect.Type) string {
	best, bestD := "", 3
	for k := range known {
		d := editDistance(name, k)
		if d < bestD || d == bestD && k < best {
			best, bestD = k, d
		}
	}
	if bestD*2 >= len(best) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance of a and b in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// written checks that mapping n, decoded into t, writes the fields
// schema.json requires whose zero value would allow more than the
// author asked for: an approval without required decodes as required:
// false, so "approval: {max_uses: 5}" on a route would drop its class's
// two-person rule.
func (w *strictWalker) written(n *yaml.Node, t reflect.Type) {
	if t == reflect.TypeFor[ApprovalSpec]() && !hasKey(n, "required", map[*yaml.Node]bool{}) {
		w.schema = append(w.schema, Problem{Line: n.Line, Message: "approval: required is missing: write required: true (or required: false to require none)"})
	}
}

// hasKey reports whether mapping n has key with a value, itself or
// through its merge keys; seen visits each node once.
func hasKey(n *yaml.Node, key string, seen map[*yaml.Node]bool) bool {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || seen[n] {
		return false
	}
	seen[n] = true
	switch n.Kind {
	case yaml.SequenceNode: // a merge of several mappings
		for _, c := range n.Content {
			if hasKey(c, key, seen) {
				return true
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
				if hasKey(n.Content[i+1], key, seen) {
					return true
				}
			} else if k.Value == key && n.Content[i+1].ShortTag() != "!!null" { // "required:" alone is not written
				return true
			}
		}
	}
	return false
}

// present checks what schema.json says of a field that is written but
// whose zero value also means "not written" once decoded: burst has
// minimum 1, so "burst: 0" is an error rather than the default.
func (w *strictWalker) present(t reflect.Type, field string, v *yaml.Node) {
	if t == reflect.TypeFor[LimitSpec]() && field == "burst" && v.Kind == yaml.ScalarNode {
		if n, err := strconv.ParseInt(v.Value, 0, 64); err == nil && n == 0 {
			w.schema = append(w.schema, Problem{Line: v.Line, Message: "burst 0: burst must be at least 1 (leave it out for the default, one second of the rate)"})
		}
	}
}

func (w *strictWalker) merge(v *yaml.Node, t reflect.Type) {
	if v.Kind == yaml.SequenceNode {
		for _, c := range v.Content {
			w.walkPart(c, t, true)
		}
		return
	}
	w.walkPart(v, t, true)
}

// yamlFields maps the yaml keys of struct t to their field types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := make(map[string]reflect.Type, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case !f.IsExported() || name == "-":
			continue
		case name == "":
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
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
	s = strings.Replace(s, " into policy.", " into ", 1)
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
