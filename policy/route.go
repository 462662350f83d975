package policy

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// node is one segment position of a method's route tree: literal children
// by segment text, at most one parameter child, and the route ending here.
// Compile builds the trees once; Match only reads them.
type node struct {
	lits  []lit            // literal children, in insertion order
	index map[string]*node // the same, once there are more than maxScan
	param *node
	route *Route
}

// lit is one literal child of a node.
type lit struct {
	head uint64 // segHead(seg): most segments compare as one word
	seg  string
	node *node
}

// segHead packs the first eight bytes of a segment, little-endian and
// zero-padded, so that a literal of up to eight bytes is compared as one
// word with no call to memequal.
func segHead[T string | []byte](seg T) uint64 {
	var h uint64
	for i := 0; i < len(seg) && i < 8; i++ {
		h |= uint64(seg[i]) << (8 * i)
	}
	return h
}

// maxScan is the number of literal children up to which a linear scan of
// short strings beats hashing the segment for a map lookup.
const maxScan = 8

// child returns the literal child for seg, whose segHead is head, or nil.
func (n *node) child(seg []byte, head uint64) *node {
	if n.index != nil {
		return n.index[string(seg)]
	}
	for i := range n.lits {
		l := &n.lits[i]
		if l.head == head && len(l.seg) == len(seg) && (len(seg) <= 8 || l.seg[8:] == string(seg[8:])) {
			return l.node
		}
	}
	return nil
}

const numMethods = 7

// methodIndex maps a method to its tree in Snapshot.roots, or -1.
func methodIndex(m []byte) int {
	switch string(m) {
	case "GET":
		return 0
	case "HEAD":
		return 1
	case "POST":
		return 2
	case "PUT":
		return 3
	case "PATCH":
		return 4
	case "DELETE":
		return 5
	case "OPTIONS":
		return 6
	}
	return -1
}

// insert adds r under its template segments.
func (n *node) insert(segs []string, r *Route) {
	for _, s := range segs {
		if isParam(s) {
			if n.param == nil {
				n.param = &node{}
			}
			n = n.param
			continue
		}
		next := n.child([]byte(s), segHead(s))
		if next == nil {
			next = &node{}
			n.lits = append(n.lits, lit{segHead(s), s, next})
			if n.index != nil || len(n.lits) > maxScan {
				if n.index == nil {
					n.index = make(map[string]*node, len(n.lits))
					for _, l := range n.lits[:len(n.lits)-1] {
						n.index[l.seg] = l.node
					}
				}
				n.index[s] = next
			}
		}
		n = next
	}
	n.route = r
}

// Match returns the route for method and an already normalised path (see
// the data plane's normaliser), or nil: no route means deny. Matching is
// case-sensitive and exact: a parameter matches one non-empty segment, and
// a trailing slash is a segment of its own. It does not allocate.
func (s *Snapshot) Match(method, path []byte) *Route {
	mi := methodIndex(method)
	if mi < 0 || len(path) == 0 || path[0] != '/' || s.roots[mi] == nil {
		return nil
	}
	if len(path) == 1 {
		return s.roots[mi].route
	}
	return s.roots[mi].match(path[1:])
}

// match finds the route for the segments of p below n. Validation forbids
// two routes of one method matching the same path, so at most one route can
// match; a literal child is tried before the parameter, backtracking when
// the literal branch has no route. It walks down in a loop and recurses
// only where a node has both a matching literal and a parameter, so the
// common path costs no calls.
func (n *node) match(p []byte) *Route {
	for {
		// segment, its word path written out here: segment is not
		// inlined, and its call cost the decision 12 instructions
		// (docs/performance.md).
		var i int
		var head uint64
		if len(p) >= 8 {
			w := binary.LittleEndian.Uint64(p)
			if s := slashes(w); s != 0 {
				i = bits.TrailingZeros64(s) / 8
				head = w & (1<<(8*i) - 1)
			} else {
				i, head = segment(p)
			}
		} else {
			i, head = segment(p)
		}
		seg := p[:i]
		next := n.child(seg, head)
		switch {
		case n.param == nil || len(seg) == 0:
			if next == nil {
				return nil
			}
		case next == nil:
			next = n.param
		default: // both: the literal first, then the parameter
			if r := next.rest(p, i); r != nil {
				return r
			}
			next = n.param
		}
		if i == len(p) {
			return next.route
		}
		n, p = next, p[i+1:len(p):len(p)] // no capacity to carry: it is read only
	}
}

// segment returns the length of the first segment of p (up to the first
// '/' or the end) and its segHead. With eight bytes to read it reads them
// as one word and finds a '/' in it with a bit trick, instead of a loop
// over the bytes (issue 18: BenchmarkDecide).
func segment(p []byte) (n int, head uint64) {
	if len(p) < 8 {
		for n < len(p) && p[n] != '/' {
			head |= uint64(p[n]) << (8 * n)
			n++
		}
		return n, head
	}
	w := binary.LittleEndian.Uint64(p)
	if s := slashes(w); s != 0 {
		n = bits.TrailingZeros64(s) / 8
		return n, w & (1<<(8*n) - 1)
	}
	if n = bytes.IndexByte(p[8:], '/'); n < 0 {
		return len(p), w
	}
	return 8 + n, w
}

// slashes marks the '/' bytes of w: bit 7 of each byte that is '/', and
// maybe of bytes above the lowest one that is (a borrow of the subtract
// runs up from a zero byte), so the lowest mark is exact.
func slashes(w uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	x := w ^ '/'*ones // a '/' byte becomes zero
	return (x - ones) &^ x & highs
}

// rest continues matching below n after the segment ending at i.
func (n *node) rest(p []byte, i int) *Route {
	if i == len(p) {
		return n.route
	}
	return n.match(p[i+1:])
}
