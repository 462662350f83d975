package policy

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// withRoutes returns the example policy with lines appended to its routes
// (the last section of the example's that takes routes).
func withRoutes(t *testing.T, lines string) []byte {
	t.Helper()
	doc, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(doc), "\nroutes:\n", "\nroutes:\n"+lines, 1)
	if s == string(doc) {
		t.Fatal("the example policy has no routes section")
	}
	return []byte(s)
}

// countProblems loads doc, which must be refused, and counts the problems
// whose message holds what.
func countProblems(t *testing.T, doc []byte, what string) (n, all int) {
	t.Helper()
	_, err := Load("p", doc)
	var perr *Error
	if !errors.As(err, &perr) {
		t.Fatalf("Load = %v, want the document refused", err)
	}
	for _, p := range perr.Problems {
		if strings.Contains(p.Message, what) {
			n++
		}
	}
	return n, len(perr.Problems)
}

// TestRepeatedRoutesProblemsBounded: a document of n routes that all
// match the same requests was refused with a problem for every pair, n²/2
// of them: 36,000 copies of one route (1.4 MiB, under etcd's value limit,
// written to the policy key by hand) took every sidecar that read it past
// 13 GB and out of memory, and again at each restart. Each route is now
// reported once, against the first route it overlaps.
func TestRepeatedRoutesProblemsBounded(t *testing.T) {
	t.Parallel()
	const n = 1000
	doc := withRoutes(t, strings.Repeat("  - {method: GET, path: /v1/dup, class: standard, scopes: [read:users]}\n", n))
	got, all := countProblems(t, doc, "matches the same requests as route")
	if got != n-1 {
		t.Errorf("%d overlap problems for %d copies of one route (%d problems in all), want %d: one a copy", got, n, all, n-1)
	}
}

// TestHeadRoutesProblemsBounded: each HEAD route checked less than GET
// routes it overlaps was reported once per GET route, so h HEAD routes
// and g GET routes made h*g problems (and as many findings in memory
// before them); each HEAD route is now reported once.
func TestHeadRoutesProblemsBounded(t *testing.T) {
	t.Parallel()
	const n = 300
	var b strings.Builder
	for i := range n {
		// HEAD /h<i>/{y} overlaps every GET /{x}/g<j>, and no HEAD or GET
		// route overlaps another of its method.
		b.WriteString("  - {method: HEAD, path: \"/h" + itoa(i) + "/{y}\", class: standard, public: true}\n")
		b.WriteString("  - {method: GET, path: \"/{x}/g" + itoa(i) + "\", class: standard, scopes: [read:users]}\n")
	}
	got, all := countProblems(t, withRoutes(t, b.String()), "is checked less than route GET")
	if got != n {
		t.Errorf("%d problems for %d HEAD routes each checked less than %d GET routes (%d problems in all), want %d: one a HEAD route", got, n, n, all, n)
	}
}

// TestTooManyRoutesRefused: a document of more than MaxRoutes routes is
// refused with one problem, before the routes are compared pair by pair.
// 18,000 distinct routes (1.4 MiB, a value etcd takes) loaded, after 15 s
// of comparisons in each sidecar's policy sync, revocations waiting
// behind it.
func TestTooManyRoutesRefused(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for i := range MaxRoutes + 1 {
		b.WriteString("  - {method: GET, path: \"/{x}/g" + itoa(i) + "\", class: standard, scopes: [read:users]}\n")
	}
	got, all := countProblems(t, withRoutes(t, b.String()), "routes defined, at most 4096 allowed")
	if got != 1 || all != 1 {
		t.Errorf("%d problems naming the route cap, %d in all; want that one alone", got, all)
	}
}
