//go:build !race

package policy

import "testing"

// The race detector allocates, so these guards build only without it.

func TestMatchAllocs(t *testing.T) {
	s := example(t, Live{})
	for _, req := range [][2]string{
		{"GET", "/v1/users/42"}, {"GET", "/v1/status"}, {"PUT", "/v1/admin/settings"},
		{"GET", "/v1/nothing/here"}, {"BREW", "/"}, {"GET", "/"},
	} {
		method, path := []byte(req[0]), []byte(req[1])
		if n := testing.AllocsPerRun(100, func() { s.Match(method, path) }); n != 0 {
			t.Errorf("Match(%s %s) allocates %v times, want 0", req[0], req[1], n)
		}
	}
}

func TestKeyAllocs(t *testing.T) {
	s := example(t, Live{})
	for _, id := range []string{"acmehris1", "missing1"} {
		b := []byte(id)
		if n := testing.AllocsPerRun(100, func() { s.Key(b) }); n != 0 {
			t.Errorf("Key(%s) allocates %v times, want 0", id, n)
		}
	}
}

func TestSplitKeyAllocs(t *testing.T) {
	for _, k := range []string{demoKey, "pk_short"} {
		b := []byte(k)
		if n := testing.AllocsPerRun(100, func() { SplitKey(b) }); n != 0 {
			t.Errorf("SplitKey(%q) allocates %v times, want 0", k, n)
		}
	}
}
