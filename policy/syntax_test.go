package policy

import (
	"errors"
	"testing"
)

// TestSyntaxErrorLines: yaml.v3 counts lines from 0 and adds the 1 for
// scanner errors only, and takes 0 for no line, so `portcullis policy
// validate` printed "p.yaml:0:" for a syntax error on the first line, a
// byte YAML does not allow or an unknown alias anywhere, and the line
// before the right one for a parser error ("x: [a" on line 2 was line
// 1). Each problem is now at its line.
func TestSyntaxErrorLines(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		doc  string
		line int
	}{
		{"a: b: c\n", 1},
		{"\tversion: 1\n", 1},
		{"version: [1,\n", 1}, // the end of the stream, after line 1
		{"version: 1\nx: [a\n", 2},
		{"version: 1\nx: {a\n", 2},
		{"version: 1\n\nx: \"\\q\"\n", 3},
		{"version: 1\nx: \"\x01\"\n", 2},
		{"version: 1\n\nx: \xff\n", 3},
		{"version: 1\nx: *b\n", 2},
		{"version: 1\n---\nx: [a\n", 3},
		{"version: 1\n---\n\nx: \"\x01\"\n", 4},
	} {
		_, err := Load("p.yaml", []byte(c.doc))
		var e *Error
		if !errors.As(err, &e) || len(e.Problems) != 1 {
			t.Errorf("%q: %v; want one problem", c.doc, err)
			continue
		}
		if p := e.Problems[0]; p.Line != c.line {
			t.Errorf("%q: %q at line %d; want line %d", c.doc, p.Message, p.Line, c.line)
		}
	}
}
