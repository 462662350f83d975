package etcdsync

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
)

// TestLayeredIsAMap: a layered map changed through many versions (next)
// holds what a plain map changed the same way holds, and a version once
// stored is not changed by the versions made from it.
func TestLayeredIsAMap(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	want := map[string]int{}
	m := layeredOf(map[string]int{})
	var kept layered[int]
	var keptWant map[string]int
	for step := range 5000 {
		m, _ = m.next()
		for range 1 + r.IntN(3) {
			k := fmt.Sprint(r.IntN(300))
			if r.IntN(3) == 0 {
				m.del(k)
				delete(want, k)
			} else {
				m.set(k, step)
				want[k] = step
			}
		}
		if step == 2500 {
			kept, keptWant = m, maps.Clone(want)
		}
		if m.len() != len(want) {
			t.Fatalf("step %d: len %d, want %d", step, m.len(), len(want))
		}
	}
	check := func(name string, m layered[int], want map[string]int) {
		t.Helper()
		got := maps.Collect(m.all())
		if !maps.Equal(got, want) || m.len() != len(want) {
			t.Errorf("%s: holds %d keys (len %d), want %d; equal %t", name, len(got), m.len(), len(want), maps.Equal(got, want))
		}
		for k, v := range want {
			if g, ok := m.get(k); !ok || g != v {
				t.Errorf("%s: get(%q) = %d, %t; want %d", name, k, g, ok, v)
			}
		}
		if m.has("absent") {
			t.Errorf("%s: has a key never set", name)
		}
	}
	check("last", m, want)
	check("kept at step 2500", kept, keptWant)
}
