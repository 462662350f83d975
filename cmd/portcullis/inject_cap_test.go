package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// inject reads at most 64 MiB of manifest, from a file or stdin: a
// larger input (a valid Pod followed by 65 MiB of comment lines) was read
// whole, into memory, and injected. It is refused, naming -f, the input
// and the cap.
func TestInjectInputIsCapped(t *testing.T) {
	t.Parallel()
	pod := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\nspec:\n  containers:\n  - name: app\n    image: app:1\n"
	big := pod + strings.Repeat("# a comment line, not a document\n", (65<<20)/33)
	file := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(file, []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, in, file string }{{file, "", file}, {"stdin", big, "-"}} {
		r := portcullisStdin(t, tt.in, "inject", "-f", tt.file)
		if want := "-f " + tt.name; r.code != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "over the cap of 64 MiB") || r.stdout != "" {
			t.Errorf("inject -f %s (65 MiB) = exit %d, stdout %d bytes, stderr %q; want exit 1 naming %q and the cap of 64 MiB", tt.file, r.code, len(r.stdout), r.stderr, want)
		}
	}
}
