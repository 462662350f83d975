package policy

import (
	"fmt"
	"strings"
)

// routeLimitWeakenings is the kind weakening rules 6 added (WeakeningRules):
// a route of cur served (serves, overlap) by a route of next in another
// class that bounds it less (looserLimits). The classes' limits of rules 3
// compare each class with itself by name, so one push that added a class
// without a limit and moved a route to it raised that route's bounds
// alone, where raising its class's took an approval
// (TestWeakeningsRouteMovedToALooserClass, attack815).
func routeLimitWeakenings(cur, next *Document) []string {
	if firstPush(cur) {
		return nil
	}
	nextSegs := make([][]string, len(next.Routes))
	for i, rs := range next.Routes {
		nextSegs[i], _ = splitTemplate(rs.Path) // nil for a bad one, which Load refuses
	}
	var out []string
	for _, rs := range cur.Routes {
		was, ok := classOf(cur, rs.Class)
		segs, err := splitTemplate(rs.Path)
		if !ok || err != nil {
			continue
		}
		for i, now := range next.Routes {
			if !serves(now.Method, rs.Method) || now.Class == rs.Class || nextSegs[i] == nil || !overlap(segs, nextSegs[i]) {
				continue
			}
			nc, _ := classOf(next, now.Class) // the zero class, bounding nothing, for one Load refuses
			if why := looserLimits(was, nc); len(why) > 0 {
				out = append(out, fmt.Sprintf("route %q of class %q served by route %q of class %q, whose %s",
					rs.Method+" "+rs.Path, was.Name, now.Method+" "+now.Path, now.Class, strings.Join(why, ", ")))
			}
		}
	}
	return out
}
