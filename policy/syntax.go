package policy

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// syntaxProblem is the problem of err, the YAML syntax error of data, at
// the line yaml.v3 means. Its marks count lines from 0 and it adds the 1
// for scanner errors only, so a parser error's line is one short; and
// since it takes a line of 0 for none, an error on the first line comes
// without one, and so does a reader error (a byte YAML does not allow)
// and an alias of an unknown anchor wherever they are. Those lines are
// found here; a problem whose line is still unknown has line 0.
func syntaxProblem(data []byte, err error) Problem {
	p := lineProblem(strings.TrimPrefix(err.Error(), "yaml: "))
	switch {
	case p.Line > 0:
		if parserErrors[p.Message] {
			p.Line++
		}
	case strings.HasPrefix(p.Message, "unknown anchor '"):
		name, _, _ := strings.Cut(strings.TrimPrefix(p.Message, "unknown anchor '"), "'")
		p.Line = lineOf(data, bytes.Index(data, []byte("*"+name)))
	case readerError(p.Message):
		p.Line = lineOf(data, badCharAt(data))
	case !strings.Contains(p.Message, "alias") && !strings.HasPrefix(p.Message, "anchor '"):
		p.Line = 1 // a scanner or parser error on the first line
	}
	// The end of the input (an unclosed "[") is after its last newline,
	// on a line the file does not have: its last line is meant.
	if last := lineOf(data, len(bytes.TrimRight(data, "\n"))); p.Line > last {
		p.Line = last
	}
	return p
}

// parserErrors are the problems yaml.v3's parser (not its scanner)
// reports, whose lines it gives one short.
var parserErrors = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// readerError reports whether a problem is one of yaml.v3's reader, which
// refuses bytes that are not UTF-8 or characters YAML does not allow.
func readerError(msg string) bool {
	for _, s := range []string{"UTF-8", "UTF-16", "control characters", "Unicode character", "surrogate"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// badCharAt returns the offset of the first byte of data that is not
// UTF-8 or starts a character YAML does not allow (YAML 1.2, 5.1, as
// yaml.v3's reader checks), or -1.
func badCharAt(data []byte) int {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		ok := r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0x7e || r == 0x85 ||
			r >= 0xa0 && r <= 0xd7ff || r >= 0xe000 && r <= 0xfffd || r >= 0x10000 && r <= 0x10ffff
		if !ok || r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// lineOf returns the line (from 1) of offset off of data, or 0 when off
// is negative.
func lineOf(data []byte, off int) int {
	if off < 0 {
		return 0
	}
	return bytes.Count(data[:off], []byte("\n")) + 1
}
