package etcdsync

import (
	"fmt"
	"maps"
	"math"
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

// TestIsqrt: isqrt(n) is the largest r with r*r <= n at the edges (0 to
// 4), around every perfect square up to 2^16 squared, around MaxInt32 and
// MaxUint32, and up to MaxInt64, where r*r+2r+1 overflows an int and
// math.Sqrt's float64 estimate is not exact.
func TestIsqrt(t *testing.T) {
	t.Parallel()
	ns := []int{0, 1, 2, 3, 4, 5, 8, 9, 10, 15, 16, 17}
	for k := 2; k <= 1<<16; k++ {
		ns = append(ns, k*k-1, k*k, k*k+1)
	}
	for _, c := range []int{math.MaxInt32, math.MaxUint32, 1 << 52, 1 << 53, 1<<62 - 1, 1 << 62, math.MaxInt64} {
		for d := -3; d <= 3; d++ {
			if n := c + d; n >= 0 && (d <= 0 || n > c) {
				ns = append(ns, n)
			}
		}
	}
	for _, k := range []int{46340, 46341, 65535, 65536, 1<<26 - 1, 1 << 26, 1<<31 - 1, 3037000499} {
		ns = append(ns, k*k-1, k*k, k*k+1)
	}
	for _, n := range ns {
		r := isqrt(n)
		u := uint64(r)
		if r < 0 || u*u > uint64(n) || (u+1)*(u+1) <= uint64(n) {
			t.Fatalf("isqrt(%d) = %d, want the largest r with r*r <= n", n, r)
		}
	}
}
