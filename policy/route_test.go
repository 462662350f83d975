package policy

import (
	"fmt"
	"strings"
	"testing"
)

// routeSnapshot compiles a document with the given routes (method and path
// pairs), each with scope read:users on class standard, or public for "/".
func routeSnapshot(t testing.TB, routes ...string) *Snapshot {
	t.Helper()
	lines := append([]string(nil), base[:17]...)
	for i := 0; i+1 < len(routes); i += 2 {
		lines = append(lines, fmt.Sprintf("  - {method: %s, path: %q, class: standard, scopes: [read:users]}", routes[i], routes[i+1]))
	}
	lines = append(lines, base[21:]...)
	d, err := Load("routes.yaml", []byte(doc(lines...)))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	s, err := Compile(d, Live{})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return s
}

func TestMatch(t *testing.T) {
	t.Parallel()
	s := routeSnapshot(t,
		"GET", "/",
		"GET", "/v1/users",
		"GET", "/v1/users/{id}",
		"POST", "/v1/users/{id}",
		"GET", "/v1/users/{id}/photos/{photo}",
		"GET", "/v1/teams/all",
		"GET", "/a/{x}/c",
		"GET", "/a/b/d",
		"GET", "/p/{x}/{y}/z",
		"GET", "/p/q/r/s",
		"DELETE", "/v1/Items",
	)
	tests := []struct {
		method, path string
		want         string // template, "" for no route
	}{
		{"GET", "/", "/"},
		{"GET", "/v1/users", "/v1/users"},
		{"GET", "/v1/users/42", "/v1/users/{id}"},
		{"POST", "/v1/users/42", "/v1/users/{id}"},
		{"GET", "/v1/users/42/photos/7", "/v1/users/{id}/photos/{photo}"},
		{"GET", "/v1/teams/all", "/v1/teams/all"},
		{"GET", "/v1/teams/some", ""},
		{"GET", "/a/b/c", "/a/{x}/c"}, // literal b leads nowhere: backtrack to {x}
		{"GET", "/a/b/d", "/a/b/d"},
		{"GET", "/a/z/c", "/a/{x}/c"},
		{"GET", "/a/z/d", ""},
		{"GET", "/p/q/r/z", "/p/{x}/{y}/z"}, // backtrack two levels
		{"GET", "/p/q/r/s", "/p/q/r/s"},
		{"GET", "/v1/users/", ""}, // trailing slash is a segment of its own
		{"GET", "/v1/users//", ""},
		{"GET", "/v1/users/42/", ""},
		{"GET", "/v1//users", ""},
		{"GET", "//", ""},
		{"GET", "/V1/users", ""}, // case-sensitive
		{"DELETE", "/v1/Items", "/v1/Items"},
		{"DELETE", "/v1/items", ""},
		{"get", "/v1/users", ""},
		{"BREW", "/v1/users", ""},
		{"HEAD", "/v1/users", ""}, // HEAD is not GET
		{"PUT", "/v1/users", ""},  // no PUT tree at all
		{"GET", "", ""},
		{"GET", "v1/users", ""},
		{"GET", "/v1/users/42/photos", ""},
		{"GET", "/v1", ""},
	}
	for _, tt := range tests {
		r := s.Match([]byte(tt.method), []byte(tt.path))
		got := ""
		if r != nil {
			got = r.Template
			if r.Method != tt.method {
				t.Errorf("Match(%s %q) gave a %s route", tt.method, tt.path, r.Method)
			}
		}
		if got != tt.want {
			t.Errorf("Match(%s %q) = %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
}

func TestMatchNoRootRoute(t *testing.T) {
	t.Parallel()
	s := routeSnapshot(t, "GET", "/v1/users")
	if r := s.Match([]byte("GET"), []byte("/")); r != nil {
		t.Errorf("Match(GET /) = %q, want nil", r.Template)
	}
}

func TestMatchDeep(t *testing.T) {
	t.Parallel()
	// A parameter at every one of many levels, and a literal sibling at
	// each, so matching the all-parameter route backtracks at every depth.
	var params, lits []string
	for i := range 20 {
		params = append(params, fmt.Sprintf("{p%d}", i))
		lits = append(lits, "x")
	}
	var routes []string
	for i := range 20 {
		path := "/" + strings.Join(append(append([]string(nil), lits[:i+1]...), params[i+1:]...), "/")
		if i == 19 {
			continue
		}
		routes = append(routes, "GET", path+"/end"+fmt.Sprint(i))
	}
	routes = append(routes, "GET", "/"+strings.Join(params, "/"))
	s := routeSnapshot(t, routes...)
	path := "/" + strings.Join(lits, "/")
	r := s.Match([]byte("GET"), []byte(path))
	if r == nil || r.Template != "/"+strings.Join(params, "/") {
		t.Errorf("Match(GET %s) = %v, want the all-parameter route", path, r)
	}
}

// A node with more literal children than a scan handles indexes them in a
// map; every child still matches only its own paths, before and after the
// switch.
func TestMatchManyLiterals(t *testing.T) {
	t.Parallel()
	for _, n := range []int{maxScan, maxScan + 1, 3 * maxScan} {
		var routes []string
		for i := range n {
			routes = append(routes, "GET", fmt.Sprintf("/v1/r%d/{id}", i))
		}
		s := routeSnapshot(t, routes...)
		for i := range n {
			want := fmt.Sprintf("/v1/r%d/{id}", i)
			if r := s.Match([]byte("GET"), []byte(fmt.Sprintf("/v1/r%d/7", i))); r == nil || r.Template != want {
				t.Errorf("%d literals: Match(/v1/r%d/7) = %v, want %s", n, i, r, want)
			}
		}
		for _, miss := range []string{fmt.Sprintf("/v1/r%d/7", n), "/v1/r/7", "/v1/R0/7", "/v1/r0"} {
			if r := s.Match([]byte("GET"), []byte(miss)); r != nil {
				t.Errorf("%d literals: Match(%s) = %s, want nil", n, miss, r.Template)
			}
		}
	}
}

// Literals are compared by their first eight bytes as a word, then by
// length and the rest: segments that share a head, differ only past the
// eighth byte, or are a prefix of another still match only their own.
func TestMatchLongLiterals(t *testing.T) {
	t.Parallel()
	s := routeSnapshot(t,
		"GET", "/integrations/alpha",
		"GET", "/integrationz/beta",
		"GET", "/integrations-long/gamma",
		"GET", "/integrat/delta",
		"GET", "/abcdefgh/eps",
	)
	tests := []struct{ path, want string }{
		{"/integrations/alpha", "/integrations/alpha"},
		{"/integrationz/beta", "/integrationz/beta"},
		{"/integrations-long/gamma", "/integrations-long/gamma"},
		{"/integrat/delta", "/integrat/delta"},
		{"/abcdefgh/eps", "/abcdefgh/eps"},
		{"/integrations/beta", ""},
		{"/integrationx/alpha", ""},
		{"/integrations-lonG/gamma", ""},
		{"/integra/delta", ""},
		{"/abcdefghi/eps", ""},
		{"/abcdefg/eps", ""},
		{"/abcdefgh\x00/eps", ""},
	}
	for _, tt := range tests {
		got := ""
		if r := s.Match([]byte("GET"), []byte(tt.path)); r != nil {
			got = r.Template
		}
		if got != tt.want {
			t.Errorf("Match(GET %q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

// TestSegment checks the word reading of segment against a loop over the
// bytes: a '/' at every position of the first nine, none, bytes with the
// high bit set, and segments longer than a word.
func TestSegment(t *testing.T) {
	var paths []string
	for _, base := range []string{"abcdefghijklmnop", "\xff\xaf\x2e\x30\x2f\x2f\x80\x01\x00ab", "users", "", "0123456789abcdefghij/x"} {
		paths = append(paths, base)
		for i := range min(len(base), 10) {
			paths = append(paths, base[:i]+"/"+base[i:], base[:i]+"/")
		}
	}
	for _, p := range paths {
		want := 0
		for want < len(p) && p[want] != '/' {
			want++
		}
		n, head := segment([]byte(p))
		if n != want || head != segHead(p[:want]) {
			t.Errorf("segment(%q) = %d, %#x; want %d, %#x", p, n, head, want, segHead(p[:want]))
		}
	}
}
