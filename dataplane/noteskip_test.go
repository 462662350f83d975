package dataplane

import (
	"go/ast"
	"go/parser"
	"go/token"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// noteValues are the values each name is noted with: the ones that make
// note act on a Transfer-Encoding, Connection, Content-Encoding or Host.
var noteValues = []string{"close", "chunked", "identity", "gzip", "svc", "a@b", ""}

// noteActs reports whether note changes anything for name, with any of
// noteValues.
func noteActs(name string) bool {
	for _, v := range noteValues {
		var h requestHeaders
		var n headerCounts
		ok := h.note([]byte(name), []byte(" "+v), &n)
		if !ok || !reflect.DeepEqual(h, requestHeaders{}) || n != (headerCounts{}) {
			return true
		}
	}
	return false
}

// noteSkips reports whether scanHeaders skips note for name.
func noteSkips(name string) bool {
	k := len(name)
	return k < 64 && noteSkip[name[0]]>>k&1 != 0
}

// TestNoteSkipSkipsNothingNoted checks that scanHeaders never skips a
// name note acts on: every string the package's source spells (every
// name note, proxyName and the rest compare with, and the prefixes),
// in both cases and with a suffix, and random names.
func TestNoteSkipSkipsNothingNoted(t *testing.T) {
	files, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	fset := token.NewFileSet()
	for _, e := range files {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, e.Name(), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && s != "" && tokenLen([]byte(s)) == len(s) {
					names = append(names, s)
				}
			}
			return true
		})
	}
	if len(names) < 100 {
		t.Fatalf("only %d names read from the source", len(names))
	}
	checked, acted := 0, 0
	for _, s := range names {
		for _, v := range []string{s, strings.ToLower(s), strings.ToUpper(s), s + "-z", s + "1", s + "-user", s + "abcdef"} {
			checked++
			if noteActs(v) {
				acted++
				if noteSkips(v) {
					t.Errorf("scanHeaders skips %q, which note acts on", v)
				}
			}
		}
	}
	if acted < 100 {
		t.Fatalf("note acted on only %d of %d names", acted, checked)
	}
	const alphabet = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	r := rand.New(rand.NewPCG(18, 308))
	b := make([]byte, 80)
	for range 200000 {
		n := 1 + r.IntN(len(b))
		for i := range n {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		if name := string(b[:n]); noteSkips(name) && noteActs(name) {
			t.Errorf("scanHeaders skips %q, which note acts on", name)
		}
	}
}

// TestNotedNamesNoted checks that each of notedNames is one note acts
// on, so that the list stays the names note compares.
func TestNotedNamesNoted(t *testing.T) {
	for _, name := range notedNames {
		if !noteActs(name) {
			t.Errorf("note does nothing with %q", name)
		}
		if noteSkips(name) || noteSkips(strings.ToUpper(name)) {
			t.Errorf("scanHeaders skips %q", name)
		}
	}
	for _, name := range []string{"User-Agent", "Accept", "Accept-Encoding", "Accept-Language", "Origin", "Date"} {
		if !noteSkips(name) {
			t.Errorf("scanHeaders calls note for %q", name)
		}
	}
}
