package alert

import (
	"math"
	"time"
)

// window is a sliding sum over time in fixed buckets: span/width buckets
// of width each, in a ring. Adding at a time older than the ring holds is
// dropped; adding later advances the ring, clearing what falls out. The
// zero window is unusable; see newWindow.
type window struct {
	width   int64 // nanoseconds per bucket
	buckets []int64
	head    int64 // bucket index (time/width) of the newest bucket
}

// windowBuckets is how many buckets a rule's window is cut into: the sum
// is exact to one bucket (a tenth of the window) at its old edge.
const windowBuckets = 10

// newWindow returns a window of buckets of width covering span.
func newWindow(width, span time.Duration) *window {
	if width <= 0 {
		width = time.Second
	}
	n := int(span/width) + 1
	return &window{width: int64(width), buckets: make([]int64, n)}
}

// refit returns w cut into buckets of width covering span, each old
// bucket's sum added at its start; w itself when it is cut so already.
// A window kept across a policy change that widened its rule summed only
// as far back as its old ring reached.
func (w *window) refit(width, span time.Duration) *window {
	n := newWindow(width, span)
	if n.width == w.width && len(n.buckets) == len(w.buckets) {
		return w
	}
	for i := w.head - int64(len(w.buckets)) + 1; i <= w.head; i++ {
		if v := w.buckets[w.slot(i)]; v != 0 {
			n.add(time.Unix(0, i*w.width), v)
		}
	}
	return n
}

// add adds v at t.
func (w *window) add(t time.Time, v int64) {
	i := t.UnixNano() / w.width
	w.advance(i)
	if w.head-i >= int64(len(w.buckets)) {
		return // older than the ring holds
	}
	b := &w.buckets[w.slot(i)]
	*b = satAdd(*b, v)
}

// satAdd is a+b for b >= 0, held at math.MaxInt64: a sender's absurd
// BytesOut (a record's own, not capped like its request count) must not
// take a bucket or a sum negative, which would hide every later record of
// its group until the window moved past it.
func satAdd(a, b int64) int64 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxInt64
}

// advance moves the newest bucket to i, clearing the buckets in between.
func (w *window) advance(i int64) {
	if i <= w.head {
		return
	}
	n := int64(len(w.buckets))
	if i-w.head >= n {
		clear(w.buckets)
	} else {
		for j := w.head + 1; j <= i; j++ {
			w.buckets[w.slot(j)] = 0
		}
	}
	w.head = i
}

// slot is the ring position of bucket i (times before 1970 have no
// position of their own; they share the ring like any other).
func (w *window) slot(i int64) int {
	return int(uint64(i) % uint64(len(w.buckets)))
}

// newest reports whether t falls in the newest bucket: nothing was added
// at a later bucket.
func (w *window) newest(t time.Time) bool {
	return t.UnixNano()/w.width >= w.head
}

// sum returns the sum of the buckets in (to-d, to], d a multiple of the
// bucket width (rounded down), counting back from the bucket of to.
func (w *window) sum(to time.Time, d time.Duration) int64 {
	last := to.UnixNano() / w.width
	k := int64(d) / w.width
	var s int64
	for i := last - k + 1; i <= last; i++ {
		if i > w.head || w.head-i >= int64(len(w.buckets)) {
			continue
		}
		s = satAdd(s, w.buckets[w.slot(i)])
	}
	return s
}
