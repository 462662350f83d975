package etcdadmin

import (
	"fmt"
	"strings"
)

// diffContext is how many unchanged lines surround each change.
const diffContext = 3

// Diff returns a unified-style line diff from text a (named aName) to b
// (named bName): "-" lines only in a, "+" lines only in b, with up to
// three unchanged lines of context and "@@ -line +line @@" before each
// hunk. It returns "" when a and b are equal. It is a plain LCS diff,
// quadratic in the number of lines, which suits policy documents.
func Diff(aName, bName, a, b string) string {
	if a == b {
		return ""
	}
	ops := diffLines(splitLines(a), splitLines(b))
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", aName, bName)
	writeHunks(&out, ops)
	return out.String()
}

// splitLines splits s into lines without their newlines.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// diffOp is one line of a diff: kind ' ', '-' or '+', and the line numbers
// (1-based) it has in a and b.
type diffOp struct {
	kind  byte
	text  string
	aLine int
	bLine int
}

// diffLines turns the longest common subsequence of a and b into ops.
func diffLines(a, b []string) []diffOp {
	// lcs[i][j] is the LCS length of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []diffOp
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			ops = append(ops, diffOp{' ', a[i], i + 1, j + 1})
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, diffOp{'-', a[i], i + 1, j + 1})
			i++
		default:
			ops = append(ops, diffOp{'+', b[j], i + 1, j + 1})
			j++
		}
	}
	return ops
}

// writeHunks writes the changed ops with diffContext lines around them.
func writeHunks(out *strings.Builder, ops []diffOp) {
	keep := make([]bool, len(ops))
	for i, op := range ops {
		if op.kind == ' ' {
			continue
		}
		for j := max(0, i-diffContext); j <= min(len(ops)-1, i+diffContext); j++ {
			keep[j] = true
		}
	}
	for i, op := range ops {
		if !keep[i] {
			continue
		}
		if i == 0 || !keep[i-1] {
			fmt.Fprintf(out, "@@ -%d +%d @@\n", op.aLine, op.bLine)
		}
		fmt.Fprintf(out, "%c%s\n", op.kind, op.text)
	}
}
