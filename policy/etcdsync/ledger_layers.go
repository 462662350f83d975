package etcdsync

import (
	"iter"
	"maps"
	"math"
)

// layered is a map that the ledger's copy-on-write states share between
// versions: base, never changed once a state holding it is stored, and
// top, the changes made over base since (a deleted key of base is a
// tombstone), which each new version copies. Each apply copied the whole
// state to change an entry or two: about 2,300 entries an approval put
// with 1,000 held (BenchmarkLedgerPutStream). top is folded into a new
// base once it holds more than about the square root of base's entries,
// so an apply copies O(√n) entries, amortised, not n
// (TestLedgerPutStreamCopiesLittleOfTheState). A lookup is at most two
// map reads and allocates nothing. The zero layered is empty; a version
// made by next may be changed, no other.
type layered[V any] struct {
	base map[string]V
	top  map[string]layer[V]
	n    int // the keys present
}

// layer is an entry of layered.top: a value, or a key deleted.
type layer[V any] struct {
	v    V
	gone bool
}

// layerMin is the fewest changes top holds before it is folded into base.
const layerMin = 16

// layeredOf returns a layered holding m, which it keeps as its base: the
// caller changes m no more.
func layeredOf[V any](m map[string]V) layered[V] {
	return layered[V]{base: m, top: map[string]layer[V]{}, n: len(m)}
}

// get returns the value of k and whether k is present.
func (m *layered[V]) get(k string) (V, bool) {
	if e, ok := m.top[k]; ok {
		return e.v, !e.gone
	}
	v, ok := m.base[k]
	return v, ok
}

// has reports whether k is present.
func (m *layered[V]) has(k string) bool {
	_, ok := m.get(k)
	return ok
}

// set makes v the value of k.
func (m *layered[V]) set(k string, v V) {
	if !m.has(k) {
		m.n++
	}
	m.top[k] = layer[V]{v: v}
}

// del deletes k.
func (m *layered[V]) del(k string) {
	if !m.has(k) {
		return
	}
	m.n--
	if _, inBase := m.base[k]; inBase {
		m.top[k] = layer[V]{gone: true}
		return
	}
	delete(m.top, k)
}

// len returns the number of keys present.
func (m *layered[V]) len() int { return m.n }

// next returns a version of m to change, m left as it is, and the number
// of entries it copied: top's, or every entry when top is folded into a
// new base.
func (m *layered[V]) next() (layered[V], int) {
	if len(m.top) > max(layerMin, isqrt(len(m.base))) {
		base := make(map[string]V, m.n)
		for k, v := range m.all() {
			base[k] = v
		}
		return layered[V]{base: base, top: map[string]layer[V]{}, n: m.n}, m.n
	}
	top := maps.Clone(m.top)
	if top == nil {
		top = map[string]layer[V]{}
	}
	return layered[V]{base: m.base, top: top, n: m.n}, len(m.top)
}

// all yields every key present and its value, in no order.
func (m *layered[V]) all() iter.Seq2[string, V] {
	return func(yield func(string, V) bool) {
		for k, e := range m.top {
			if !e.gone && !yield(k, e.v) {
				return
			}
		}
		for k, v := range m.base {
			if _, over := m.top[k]; !over && !yield(k, v) {
				return
			}
		}
	}
}

// isqrt returns the integer square root of n >= 0, the largest r with
// r*r <= n (0 for n < 0), in constant time. math.Sqrt's float64 estimate
// is exact up to 2^52 and may be one off past it; the fix-ups compare by
// division, so that no square overflows near math.MaxInt64.
func isqrt(n int) int {
	if n <= 0 {
		return 0
	}
	r := int(math.Sqrt(float64(n)))
	for r > n/r {
		r--
	}
	for r+1 <= n/(r+1) {
		r++
	}
	return r
}
