package dataplane

import (
	"strings"
	"testing"
)

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

// Smuggling shapes get 400 and never reach the upstream.
func TestSmugglingRefused(t *testing.T) {
	st := startStack(t, nil)
	head := "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n"
	cases := map[string]string{
		"CL and TE":       head + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"TE and CL":       head + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
		"repeated CL":     head + "Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd",
		"underscore name": head + "X_Portcullis_Tenant: globex\r\nContent-Length: 0\r\n\r\n",
		"two api keys":    head + "X-API-Key: " + adminKey + "\r\nContent-Length: 0\r\n\r\n",
	}
	for name, req := range cases {
		r := raw(t, st.addr, req)
		if r.status != 400 {
			t.Errorf("%s: got %d %s, want 400", name, r.status, r.body)
			continue
		}
		r.errorBody(t)
	}
	if n := len(st.up.received()); n != 0 {
		t.Errorf("upstream received %d smuggling attempts", n)
	}
}
