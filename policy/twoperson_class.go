package policy

import (
	"fmt"
	"slices"
	"strings"
)

// classWeakenings lists the privileged (or bulk) classes of cur whose
// checks next loosens (looserClass), by name, the proxies next trusts
// anew that forward the source address their allow_cidrs check, and the
// routes of cur in
// such a class that a route of next in another class serves (the same
// method, an overlapping template, as routeScopeWeakenings finds them)
// with less checked: a route moved to a class without the network, auth
// method or token age rules reaches the same handler on one person's
// word. A class gone weakens nothing by itself: its routes went or moved.
func classWeakenings(cur, next *Document) []string {
	var out []string
	for _, was := range cur.Classes {
		i := slices.IndexFunc(next.Classes, func(c ClassSpec) bool { return c.Name == was.Name })
		if !privilegedKind(was.Kind) || i < 0 {
			continue
		}
		for _, why := range looserClass(was, next.Classes[i]) {
			out = append(out, fmt.Sprintf("class %q (%s) %s", was.Name, was.Kind, why))
		}
	}
	out = append(out, proxyWeakenings(cur, next)...)
	return append(out, routeClassWeakenings(cur, next)...)
}

// proxyWeakenings lists the trusted_proxies of next inside none of cur's
// while a privileged class of cur has allow_cidrs: the source address
// those check is the one a trusted proxy forwards (X-Forwarded-For), so a
// network trusted anew (0.0.0.0/0 at worst) forwards any address it
// likes into every allowlist.
func proxyWeakenings(cur, next *Document) []string {
	if !slices.ContainsFunc(cur.Classes, func(c ClassSpec) bool { return privilegedKind(c.Kind) && len(c.AllowCIDRs) > 0 }) {
		return nil
	}
	var out []string
	for _, s := range next.TrustedProxies {
		if !insideAny(s, cur.TrustedProxies) {
			out = append(out, fmt.Sprintf("trusted_proxies widened: %s is inside none of %v, and the privileged classes' allow_cidrs check the address a trusted proxy forwards", s, cur.TrustedProxies))
		}
	}
	return out
}

// routeClassWeakenings is classWeakenings for the routes of cur moved to
// another class.
func routeClassWeakenings(cur, next *Document) []string {
	nextSegs := make([][]string, len(next.Routes))
	for i, rs := range next.Routes {
		nextSegs[i], _ = splitTemplate(rs.Path) // nil for a bad one, which Load refuses
	}
	var out []string
	for _, rs := range cur.Routes {
		was, ok := classOf(cur, rs.Class)
		segs, err := splitTemplate(rs.Path)
		if !ok || !privilegedKind(was.Kind) || err != nil {
			continue
		}
		for i, now := range next.Routes {
			if !serves(now.Method, rs.Method) || now.Class == rs.Class || nextSegs[i] == nil || !overlap(segs, nextSegs[i]) {
				continue
			}
			nc, _ := classOf(next, now.Class) // the zero class, checking nothing, for one Load refuses
			if why := looserClass(was, nc); len(why) > 0 {
				out = append(out, fmt.Sprintf("route %q of class %q (%s) served by route %q of class %q, which %s",
					rs.Method+" "+rs.Path, was.Name, was.Kind, now.Method+" "+now.Path, now.Class, strings.Join(why, ", ")))
			}
		}
	}
	return out
}

func classOf(d *Document, name string) (ClassSpec, bool) {
	i := slices.IndexFunc(d.Classes, func(c ClassSpec) bool { return c.Name == name })
	if i < 0 {
		return ClassSpec{}, false
	}
	return d.Classes[i], true
}

// looserClass says how class now checks a request less than class was:
// its allow_cidrs take a network inside none of was's (or are gone, any
// source), its auth_methods allow a method was's did not (none listed
// allows every one, as Compile reads it), or its max_token_age is longer
// (or gone). What does not parse is taken for the looser side.
func looserClass(was, now ClassSpec) []string {
	var why []string
	if len(was.AllowCIDRs) > 0 {
		if len(now.AllowCIDRs) == 0 {
			why = append(why, fmt.Sprintf("allow_cidrs removed (were %v): any source", was.AllowCIDRs))
		}
		for _, s := range now.AllowCIDRs {
			if !insideAny(s, was.AllowCIDRs) {
				why = append(why, fmt.Sprintf("allow_cidrs widened: %s is inside none of %v", s, was.AllowCIDRs))
			}
		}
	}
	wm, nm := methodBits(was.AuthMethods), methodBits(now.AuthMethods)
	if nm&^wm != 0 {
		why = append(why, fmt.Sprintf("auth_methods widened from %s to %s", methodsText(was.AuthMethods), methodsText(now.AuthMethods)))
	}
	wa, err := parseDuration(was.MaxTokenAge)
	na, err2 := parseDuration(now.MaxTokenAge)
	if err == nil && wa > 0 && (err2 != nil || na == 0 || na > wa) {
		why = append(why, fmt.Sprintf("max_token_age lengthened from %s to %s", wa, ageText(na)))
	}
	return why
}

// insideAny reports whether the network s lies inside one of the
// networks allowed. Addresses of two families never do: an IPv4-mapped
// IPv6 network counts as wider than any IPv4 one.
func insideAny(s string, allowed []string) bool {
	p, err := parsePrefix(s)
	if err != nil {
		return false
	}
	for _, a := range allowed {
		q, err := parsePrefix(a)
		if err == nil && q.Bits() <= p.Bits() && q.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// methodBits is the set of auth methods a class allows, as Compile reads
// auth_methods: none listed allows every one, and one it does not know
// (Load refuses it) counts as every one.
func methodBits(ms []string) AuthMethods {
	all := MethodAPIKey | MethodJWT | MethodMTLS
	if len(ms) == 0 {
		return all
	}
	var b AuthMethods
	for _, m := range ms {
		bit, ok := authMethodBits[m]
		if !ok {
			return all
		}
		b |= bit
	}
	return b
}

func methodsText(ms []string) string {
	if len(ms) == 0 {
		return "any (none listed)"
	}
	return "[" + strings.Join(ms, ", ") + "]"
}
