package dataplane

import (
	"bytes"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalizePath(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"/", "/", true},
		{"/v1/users", "/v1/users", true},
		{"//v1///users", "/v1/users", true},
		{"/v1/users/", "/v1/users/", true},
		{"/./v1/./users/.", "/v1/users/", true},
		{"/v1/x/../users", "/v1/users", true},
		{"/v1/x/..", "/v1/", true},
		{"/../../etc", "/etc", true},
		{"/v1/%2e%2E/admin", "/admin", true},
		{"/v1/%2e/admin", "/v1/admin", true},
		{"/v1/.%2e/admin", "/admin", true},
		{"/%7euser/%41", "/~user/A", true},
		{"/a%20b", "/a%20b", true},
		{"/a%3bb", "/a%3Bb", true},
		{"/a%252e%252e", "", false},
		{"/a%252F", "", false},
		{"/a%25252e", "", false},
		{"/a%25%32%65", "", false}, // the hex digits escaped: "%252e" all the same
		{"/a%25%32e", "", false},
		{"/a%252%65", "", false},
		{"/a%25%32%66", "", false},
		{"/a%25%34", "/a%254", true},
		{"/a%25", "/a%25", true},
		{"/a%25zz", "/a%25zz", true},
		{"/a%25e", "/a%25e", true},
		{"/a...b/...", "/a...b/...", true},
		{"/a%2fb", "", false},
		{"/a%2Fb", "", false},
		{"/a%5cb", "", false},
		{"/a%00", "", false},
		{"/a\\b", "", false},
		{"/a;b", "", false},
		{"/a b", "", false},
		{"/a\x00", "", false},
		{"/caf\xc3\xa9", "", false},
		{"/a%", "", false},
		{"/a%4", "", false},
		{"/a%zz", "", false},
		{"/caf%c3%a9", "/caf%C3%A9", true},
		{"/a%C0%AE%C0%AE", "", false},
		{"/a%E0%80%AE", "", false},
		{"/a%ED%A0%80", "", false},
		{"/a%E9", "", false},
		{"/a%E2%82", "", false},
		{"", "", false},
		{"v1/users", "", false},
	}
	for _, c := range cases {
		got, ok := normalizePath(nil, []byte(c.in))
		if ok != c.ok || (ok && string(got) != c.want) {
			t.Errorf("normalizePath(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestSplitTarget(t *testing.T) {
	cases := []struct{ in, path, query string }{
		{"/v1/users?a=1&b=2", "/v1/users", "a=1&b=2"},
		{"/v1/users", "/v1/users", ""},
		{"http://evil.example/v1/users?x", "/v1/users", "x"},
		{"http://evil.example", "/", ""},
		{"http://evil.example?x=1", "/", "x=1"},
	}
	for _, c := range cases {
		p, q, ok := splitTarget([]byte(c.in))
		if !ok || string(p) != c.path || string(q) != c.query {
			t.Errorf("splitTarget(%q) = %q, %q, %v", c.in, p, q, ok)
		}
	}
	for _, bad := range []string{
		"*", "evil.example:80", "/a?b c", "/a?\x01", "http://admin:s3cr3t@internal.example/v1/users",
		"http://@x/", "ftp://x/", "://x/", "http:///v1/users", "http://x%40y/",
	} {
		if _, _, ok := splitTarget([]byte(bad)); ok {
			t.Errorf("splitTarget(%q) accepted", bad)
		}
	}
}

// Paths already in normal form take the fast way, and only those.
func TestIsNormal(t *testing.T) {
	for _, p := range []string{"/", "/v1/users/42", "/v1/users/", "/a/b.c/d..e", "/a-b_c~d/@:!$&'()*+,="} {
		if !isNormal([]byte(p)) {
			t.Errorf("isNormal(%q) = false", p)
		}
	}
	for _, p := range []string{"", "v1", "//a", "/a//b", "/./a", "/a/..", "/a/.hidden", "/a%41", "/a;b", "/a\\b", "/a b", "/\xc3\xa9"} {
		if isNormal([]byte(p)) {
			t.Errorf("isNormal(%q) = true", p)
		}
	}
}

// FuzzNormalizePath checks the invariants routing relies on: the normal
// form is stable, has no dot segments, no empty segments, no encoded slash
// and only allowed bytes.
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "/v1/users/../admin", "/%2e%2e/%2f", "//a//b/", "/a%41%7e", "/a;b", "/..;/x",
		"/v1/users/42", "/v1/users/", "/a/.hidden", "/a/b.", "/a/b..", "/a\\b", "/a b", "v1/users", "/a%25%32%65", "/%C0%AE%C0%AE", "/caf%C3%A9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, ok := normalizePath(nil, []byte(in))
		if slow, slowOK := normalizeSlow(nil, []byte(in)); slowOK != ok || !bytes.Equal(slow, out) {
			t.Fatalf("fast path %q (%v), slow path %q (%v) for %q", out, ok, slow, slowOK, in)
		}
		if !ok {
			return
		}
		again, ok2 := normalizePath(nil, out)
		if !ok2 || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", in, out, again, ok2)
		}
		s := string(out)
		if !strings.HasPrefix(s, "/") || strings.Contains(s, "//") || strings.Contains(s, "/./") ||
			strings.Contains(s, "/../") || strings.HasSuffix(s, "/..") || strings.HasSuffix(s, "/.") {
			t.Fatalf("%q normalised to %q", in, out)
		}
		if bytes.ContainsAny(out, "\\;") || strings.Contains(strings.ToUpper(s), "%2F") {
			t.Fatalf("%q normalised to %q", in, out)
		}
		// A service that decodes twice sees what one that decodes once does.
		if once, err := url.PathUnescape(s); err == nil {
			if twice, err := url.PathUnescape(once); err == nil && twice != once {
				t.Fatalf("%q normalised to %q, which decoded twice is %q", in, out, twice)
			}
			// Its escapes spell UTF-8: no overlong '.', '/' or '\'.
			if !utf8.ValidString(once) {
				t.Fatalf("%q normalised to %q, which decodes to bytes that are not UTF-8", in, out)
			}
		}
	})
}

// FuzzSplitTarget checks splitTarget on arbitrary request targets: it never
// panics; an accepted target gives a path that is "/" or a slice of the
// target starting with '/', without '?' (never empty); a query of query bytes only; and
// an accepted absolute form never carries userinfo. Seeds are in
// testdata/fuzz/FuzzSplitTarget.
func FuzzSplitTarget(f *testing.F) {
	f.Add("/v1/users?a=1")
	f.Fuzz(func(t *testing.T, target string) {
		path, query, ok := splitTarget([]byte(target))
		if !ok {
			return
		}
		if len(path) == 0 || path[0] != '/' || bytes.IndexByte(path, '?') >= 0 {
			t.Fatalf("splitTarget(%q) path %q: not origin form", target, path)
		}
		if !validQuery(query) {
			t.Fatalf("splitTarget(%q) query %q holds bytes a query may not", target, query)
		}
		if !strings.HasPrefix(target, "/") {
			scheme, rest, _ := strings.Cut(target, "://")
			authority, _, _ := strings.Cut(strings.SplitN(rest, "?", 2)[0], "/")
			if strings.ContainsAny(authority, "@%[]") || !strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https") {
				t.Fatalf("splitTarget(%q) accepted scheme %q authority %q", target, scheme, authority)
			}
		}
	})
}

// Every path trick must either be refused or reach the upstream as the one
// normalised path the route check saw.
func TestPathNormalisation(t *testing.T) {
	st := startStack(t, nil)
	cases := []struct {
		method, target, key string
		status              int
		upstream            string // forwarded uri, "" when it must not be forwarded
	}{
		{"GET", "/v1/users/%2e%2e/admin/settings", adminKey, 404, ""},
		{"PUT", "/v1/users/%2e%2e/admin/settings", hrisKey, 403, ""},
		{"PUT", "/v1/users/../admin/settings", hrisKey, 403, ""},
		{"PUT", "/v1/admin/settings/.", adminKey, 404, ""},
		{"PUT", "/v1/admin%2fsettings", adminKey, 400, ""},
		{"PUT", "/v1/admin%2Fsettings", adminKey, 400, ""},
		{"PUT", "/v1/admin%5csettings", adminKey, 400, ""},
		{"PUT", "/v1/admin\\settings", adminKey, 400, ""},
		{"PUT", "/v1/admin/settings;x=1", adminKey, 400, ""},
		{"PUT", "/v1/admin/..;/admin/settings", adminKey, 400, ""},
		{"PUT", "/V1/ADMIN/SETTINGS", adminKey, 404, ""},
		{"PUT", "/v1/Admin/settings", adminKey, 404, ""},
		{"GET", "/v1/users/%00", hrisKey, 400, ""},
		{"GET", "/v1/users/%zz", hrisKey, 400, ""},
		{"GET", "/v1/users/%252e%252e%252fadmin%252fsettings", hrisKey, 400, ""},
		{"GET", "/v1/users/%25%32%65%25%32%65%25%32%66admin%25%32%66settings", hrisKey, 400, ""},
		{"GET", "/v1/users/%252%65%252%65%252%66admin%252%66settings", hrisKey, 400, ""},
		{"GET", "/v1/users/100%25", hrisKey, 200, "/v1/users/100%25"},
		{"GET", "//v1//users", hrisKey, 200, "/v1/users"},
		{"GET", "/./v1/./users", hrisKey, 200, "/v1/users"},
		{"GET", "/v1/x/../users", hrisKey, 200, "/v1/users"},
		{"GET", "/../../v1/users", hrisKey, 200, "/v1/users"},
		{"GET", "/v1/users/%41%62", hrisKey, 200, "/v1/users/Ab"},
		{"GET", "/v1/users/a%20b", hrisKey, 200, "/v1/users/a%20b"},
		{"GET", "/v1/users/a%3bb", hrisKey, 200, "/v1/users/a%3Bb"},
		{"GET", "http://svc/v1/users", hrisKey, 200, "/v1/users"},
		{"GET", "http://evil.example/v1/users", hrisKey, 400, ""}, // Host: svc
		{"GET", "/v1/users/", hrisKey, 404, ""},
	}
	for _, c := range cases {
		before := len(st.up.received())
		r := do(t, st.addr, c.method, c.target, key(c.key), "")
		if r.status != c.status {
			t.Errorf("%s %s: got %d %s, want %d", c.method, c.target, r.status, r.body, c.status)
			continue
		}
		got := st.up.received()[before:]
		switch {
		case c.upstream == "" && len(got) > 0:
			t.Errorf("%s %s reached the upstream as %q", c.method, c.target, got[0].uri)
		case c.upstream != "" && (len(got) != 1 || got[0].uri != c.upstream):
			t.Errorf("%s %s: upstream got %v, want %q", c.method, c.target, got, c.upstream)
		}
	}
}

// isNormalRef is isNormal as it was before issue 18: one pass that
// carries whether the byte before was '/'.
func isNormalRef(p []byte) bool {
	if len(p) == 0 || p[0] != '/' {
		return false
	}
	ok := true
	for i, c := range p {
		ok = ok && (pathByte[c] || c == '/')
		if i > 0 && p[i-1] == '/' && (c == '/' || c == '.') {
			ok = false
		}
	}
	return ok
}

// TestIsNormalSame checks isNormal against the byte-by-byte reading, on
// every path of up to six bytes over an alphabet of the bytes it tells
// apart and on random longer ones, where its words and their overlaps
// fall everywhere.
func TestIsNormalSame(t *testing.T) {
	const alphabet = "/.a%;\x80-"
	check := func(p []byte) {
		if got, want := isNormal(p), isNormalRef(p); got != want {
			t.Fatalf("isNormal(%q) = %v, want %v", p, got, want)
		}
	}
	var walk func(p []byte)
	walk = func(p []byte) {
		check(p)
		if len(p) < 6 {
			for _, c := range []byte(alphabet) {
				walk(append(p, c))
			}
		}
	}
	walk([]byte("/"))
	r := rand.New(rand.NewPCG(18, 1))
	for range 200_000 {
		p := []byte("/")
		for range 1 + r.IntN(40) {
			c := byte('a' + r.IntN(3))
			switch r.IntN(12) {
			case 0, 1, 2:
				c = '/'
			case 3:
				c = '.'
			case 4:
				if r.IntN(20) == 0 {
					c = alphabet[r.IntN(len(alphabet))]
				}
			}
			p = append(p, c)
		}
		check(p)
	}
}
