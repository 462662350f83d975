package audit

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// A path longer than MaxPath is recorded cut, ending with PathCut, at a
// character boundary; a path that fits is recorded whole. Before, the
// first MaxPath bytes were recorded as if they were the path.
func TestLongPathMarkedCut(t *testing.T) {
	for _, c := range []struct {
		name, path, want string
	}{
		{"fits", "/" + strings.Repeat("a", MaxPath-1), "/" + strings.Repeat("a", MaxPath-1)},
		{"one byte over", "/" + strings.Repeat("a", MaxPath), "/" + strings.Repeat("a", MaxPath-len(PathCut)-1) + PathCut},
		{"cut inside a character", "/" + strings.Repeat("a", MaxPath-len(PathCut)-2) + "é" + strings.Repeat("b", 10),
			"/" + strings.Repeat("a", MaxPath-len(PathCut)-2) + PathCut},
	} {
		var r Record
		r.SetPath([]byte(c.path))
		got := string(r.Path())
		if got != c.want || len(got) > MaxPath || !utf8.ValidString(got) {
			t.Errorf("%s: recorded %q (%d bytes), want %q", c.name, got, len(got), c.want)
		}
	}
}
