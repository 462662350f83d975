package etcdadmin

import (
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, a, b, want string
	}{
		{"equal", "x\ny\n", "x\ny\n", ""},
		{"change", "a\nb\nc\n", "a\nB\nc\n", "--- old\n+++ new\n@@ -1 +1 @@\n a\n-b\n+B\n c\n"},
		{"add to empty", "", "a\n", "--- old\n+++ new\n@@ -1 +1 @@\n+a\n"},
		{"context", "1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\n5\n6\n7\n8\nX\n", "--- old\n+++ new\n@@ -6 +6 @@\n 6\n 7\n 8\n-9\n+X\n"},
	} {
		if got := Diff("old", "new", c.a, c.b); got != c.want {
			t.Errorf("%s: Diff =\n%s\nwant\n%s", c.name, got, c.want)
		}
	}
	got := Diff("old", "new", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "X\n2\n3\n4\n5\n6\n7\n8\n9\nY\n")
	if n := strings.Count(got, "@@ -"); n != 2 {
		t.Errorf("two far-apart changes gave %d hunks, want 2:\n%s", n, got)
	}
}

func TestDiffPolicyAgainstEtcd(t *testing.T) {
	t.Parallel()
	a := New(dial(t, shared), newPrefix(t))
	doc := examplePolicy(t)
	rev := push(t, a, doc)
	changed := strings.Replace(string(doc), "name: Acme Corp", "name: Acme Inc", 1)
	got, err := a.DiffPolicy(t.Context(), "policy.yaml", []byte(changed))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "-    name: Acme Corp\n+    name: Acme Inc\n") || !strings.Contains(got, "@") || !strings.HasPrefix(got, "--- "+a.Prefix()+"/policy@") {
		t.Errorf("DiffPolicy =\n%s\nwant the tenant name change against revision %d", got, rev)
	}
	if got, _ := a.DiffPolicy(t.Context(), "policy.yaml", doc); got != "" {
		t.Errorf("DiffPolicy(same document) = %q, want empty", got)
	}
}
