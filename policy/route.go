package policy

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
	seg  string
	node *node
}

// maxScan is the number of literal children up to which a linear scan of
// short strings beats hashing the segment for a map lookup.
const maxScan = 8

// child returns the literal child for seg, or nil.
func (n *node) child(seg []byte) *node {
	if n.index != nil {
		return n.index[string(seg)]
	}
	for i := range n.lits {
		if n.lits[i].seg == string(seg) {
			return n.lits[i].node
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
		next := n.child([]byte(s))
		if next == nil {
			next = &node{}
			n.lits = append(n.lits, lit{s, next})
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
// the literal branch has no route.
func (n *node) match(p []byte) *Route {
	i := 0
	for i < len(p) && p[i] != '/' {
		i++
	}
	seg, last := p[:i], i == len(p)
	if next := n.child(seg); next != nil {
		if r := next.next(p, i, last); r != nil {
			return r
		}
	}
	if n.param != nil && len(seg) > 0 {
		return n.param.next(p, i, last)
	}
	return nil
}

// next continues matching after the segment ending at i.
func (n *node) next(p []byte, i int, last bool) *Route {
	if last {
		return n.route
	}
	return n.match(p[i+1:])
}
