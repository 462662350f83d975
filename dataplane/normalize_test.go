package dataplane

import (
	"bytes"
	"strings"
	"testing"
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
		{"/a%252e%252e", "/a%252e%252e", true},
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

func TestScanHeaders(t *testing.T) {
	ok := "Host: a\r\nContent-Length: 3\r\nX-API-Key: k\r\n\r\n"
	var h requestHeaders
	if !scanHeaders([]byte("Host: a\r\nContent-Length: 3\r\nx-api-key:  k1 \r\nX-Request-Id: r-1\r\n\r\n"), &h) {
		t.Errorf("rejected %q", ok)
	}
	if string(h.apiKey) != "k1" || string(h.requestID) != "r-1" {
		t.Errorf("scanned %q %q", h.apiKey, h.requestID)
	}
	h = requestHeaders{}
	if !scanHeaders([]byte("Authorization: Bearer t\r\nTransfer-Encoding: Chunked\r\nX-Real-IP: 1\r\n"), &h) {
		t.Errorf("rejected a bearer with a chunked body")
	}
	if string(h.authz) != "Bearer t" || !h.chunked || !h.dropped {
		t.Errorf("scanned authz %q chunked %v dropped %v", h.authz, h.chunked, h.dropped)
	}
	for _, bad := range []string{
		"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
		"content-length: 3\r\nCONTENT-LENGTH: 3\r\n",
		"X_Forwarded_For: 1.2.3.4\r\n",
		"X-A: 1\r\n folded\r\n",
		"Authorization: a\r\nauthorization: b\r\n",
		"X-Api-Key: a\r\nX-API-KEY: b\r\n",
		"NoColon\r\n",
		"X-Request-ID: a\r\nX-Request-Id: b\r\n",
		"\rX-A: 1\r\n",
		"X(A): 1\r\n",
		"X A: 1\r\n",
		"X-\xc3\x84: 1\r\n",
		"X-A: 1\r\n: empty name\r\n",
		"X-API-Key: a\r\nAuthorization: Bearer b\r\n", // two credentials
		"Transfer-Encoding: identity\r\n",
		"Transfer-Encoding: gzip, chunked\r\n",
		"Transfer-Encoding: chunked, chunked\r\n",
		"Host: admin:s3cr3t@svc\r\n",
		"Host: svc/x\r\n",
		"Host: a\r\nHost: b\r\n",
	} {
		if scanHeaders([]byte(bad), new(requestHeaders)) {
			t.Errorf("accepted %q", bad)
		}
	}
}

// foldEqual's bit-0x20 fold is exact on the bytes a name can hold: a token
// byte folds onto a lower-case letter, digit or '-' only if it is that
// character in either case.
func TestFoldEqualExactOnTokens(t *testing.T) {
	for b := range 256 {
		if !tokenByte[b] {
			continue
		}
		for _, w := range []byte("abcdefghijklmnopqrstuvwxyz0123456789-") {
			want := strings.ToLower(string(rune(b))) == string(w)
			if got := foldEqual([]byte{byte(b)}, string(w)); got != want {
				t.Errorf("foldEqual(%q, %q) = %v", byte(b), w, got)
			}
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

// The scan notes what the proxy must strip, so that requests without such
// headers skip the stripping.
func TestScanHeadersNotes(t *testing.T) {
	for _, c := range []struct {
		raw                  string
		hop, internal, creds bool
	}{
		{"Host: a\r\nUser-Agent: b\r\n\r\n", false, false, false},
		{"Host: a\r\nconnection: keep-alive\r\n\r\n", true, false, false},
		{"Keep-Alive: 5\r\n", true, false, false},
		{"Proxy-Authorization: x\r\n", true, false, false},
		{"te: trailers\r\n", true, false, false},
		{"Transfer-Encoding: chunked\r\n", true, false, false},
		{"Upgrade: h2c\r\n", true, false, false},
		{"X-Portcullis-Tenant: globex\r\n", false, true, false},
		{"x-portcullis-scopes: admin:settings\r\n", false, true, false},
		{"X-API-Key: k\r\n", false, false, true},
		{"Authorization: Bearer t\r\n", false, false, true},
		{"X-Portcullis: not the prefix\r\n", false, false, false},
	} {
		var h requestHeaders
		if !scanHeaders([]byte(c.raw), &h) {
			t.Errorf("rejected %q", c.raw)
			continue
		}
		if h.hop != c.hop || h.internal != c.internal || h.creds != c.creds {
			t.Errorf("%q: hop, internal, creds = %v, %v, %v; want %v, %v, %v", c.raw, h.hop, h.internal, h.creds, c.hop, c.internal, c.creds)
		}
	}
}

// FuzzNormalizePath checks the invariants routing relies on: the normal
// form is stable, has no dot segments, no empty segments, no encoded slash
// and only allowed bytes.
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "/v1/users/../admin", "/%2e%2e/%2f", "//a//b/", "/a%41%7e", "/a;b", "/..;/x",
		"/v1/users/42", "/v1/users/", "/a/.hidden", "/a/b.", "/a/b..", "/a\\b", "/a b", "v1/users"} {
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
	})
}

// FuzzScanHeaders must never panic on arbitrary header blocks, and a block
// it accepts holds at most one credential, no Transfer-Encoding but
// "chunked", and only plain host[:port] Host values, as a line-by-line
// reading of the block sees them.
func FuzzScanHeaders(f *testing.F) {
	f.Add("Host: a\r\nContent-Length: 3\r\n\r\n")
	f.Add("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		if !scanHeaders([]byte(in), new(requestHeaders)) {
			return
		}
		creds := 0
		for line := range strings.SplitSeq(in, "\n") {
			name, value, _ := strings.Cut(strings.TrimSuffix(line, "\r"), ":")
			value = strings.Trim(value, " \t")
			switch strings.ToLower(name) {
			case "x-api-key", "authorization":
				creds++
			case "transfer-encoding":
				if !strings.EqualFold(value, "chunked") {
					t.Fatalf("accepted Transfer-Encoding %q in %q", value, in)
				}
			case "host":
				if strings.Trim(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-:") != "" {
					t.Fatalf("accepted Host %q in %q", value, in)
				}
			}
		}
		if creds > 1 {
			t.Fatalf("accepted %d credentials in %q", creds, in)
		}
	})
}
