package dataplane

import (
	"bufio"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// parsedHeader reads the request head req into a RequestHeader.
func parsedHeader(t *testing.T, req string) *fasthttp.RequestHeader {
	t.Helper()
	var h fasthttp.RequestHeader
	if err := h.Read(bufio.NewReaderSize(strings.NewReader(req), 64<<10)); err != nil {
		t.Fatal(err)
	}
	return &h
}

// The finding of BenchmarkAttackChunkedManyFields, counted instead of
// timed: finding the trailer names of a request with n header fields of
// one name took two passes over all fields per field (n*n); it now sorts
// (n log n). Four times the fields must cost well under sixteen times the
// comparisons.
func TestTrailerNamesWorkIsNotQuadratic(t *testing.T) {
	t.Parallel()
	work := func(n int) int {
		req := "GET /v1/status HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" + strings.Repeat("a:\r\n", n) + "\r\n"
		h := parsedHeader(t, req)
		var sc trailerScratch
		dst, count := sc.extra(h, h.RawHeaders(), nil)
		if count != 0 || len(dst) != 0 {
			t.Fatalf("%d fields, no trailers: trailer names %q", n, dst)
		}
		return sc.fields.cmps + sc.lines.cmps
	}
	small, big := work(1000), work(4000)
	if ratio := float64(big) / float64(small); ratio > 6 {
		t.Errorf("comparisons for 1,000 and 4,000 fields: %d and %d, ratio %.1f; want under 6 (n log n), quadratic is 16", small, big, ratio)
	}
	if limit := 4 * 4000 * 12; big > limit {
		t.Errorf("%d comparisons for 4,000 fields, want at most %d (4 n log2 n)", big, limit)
	}
}

// trailerNames finds the names the map holds more often than the raw
// block, whatever the case, once each.
func TestTrailerNames(t *testing.T) {
	t.Parallel()
	h := parsedHeader(t, "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nx-b: 2\r\nX-B: 3\r\n\r\n")
	h.Add("X-A", "forged")
	h.Add("x-c", "new")
	h.Add("X-C", "new")
	h.Add("X-B", "not more than raw? yes: 3 > 2")
	got, n := trailerNames(h, h.RawHeaders(), nil)
	if want := "x-a\nx-b\nx-c\n"; string(got) != want || n != 3 {
		t.Errorf("trailer names %q (%d), want %q (3)", got, n, want)
	}
}

// A Connection header may list a few hop-by-hop names, but not fields the
// sidecar relies on end to end, and not thousands of names (each costs a
// pass over the header map): both are 400 over a real socket, and an
// ordinary list still passes.
func TestConnectionListRefused(t *testing.T) {
	t.Parallel()
	st, up := startRecorded(t, nil)
	req := func(conn string) string {
		return "GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Hop: 1\r\nConnection: " + conn + "\r\n\r\n"
	}
	for _, conn := range []string{
		"Host", "content-length", "Transfer-Encoding", "Content-Type", "X-Request-ID",
		"X-Forwarded-For", "X-Portcullis-Tenant", "x_portcullis_client",
		"close, Host", strings.Repeat("a, ", 3800) + "a", // the finding: 3,800 names
		strings.Repeat("a,", maxConnectionNames) + "a",
	} {
		r := raw(t, st.addr, req(conn))
		if r.status != 400 {
			t.Errorf("Connection: %.40s: status %d, want 400", conn, r.status)
			continue
		}
		if e := r.errorBody(t); e.Error != "bad_request" {
			t.Errorf("Connection: %.40s: error %q, want bad_request", conn, e.Error)
		}
	}
	if n := len(up.all()); n != 0 {
		t.Fatalf("%d refused requests reached the upstream", n)
	}
	if r := raw(t, st.addr, req("X-Hop, keep-alive")); r.status != 200 {
		t.Fatalf("Connection: X-Hop, keep-alive: status %d, want 200", r.status)
	}
	if got := up.all(); len(got) != 1 || got[0].header.Get("X-Hop") != "" {
		t.Fatalf("upstream got %+v; want 1 request without X-Hop", got)
	}
}

func (u *recorder) all() []recorded {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]recorded(nil), u.reqs...)
}

// More than maxTrailerNames distinct trailer names is 400: each costs a
// pass over the header map to remove.
func TestManyTrailerNamesRefused(t *testing.T) {
	t.Parallel()
	st := startStack(t, nil)
	var tr strings.Builder
	for i := range maxTrailerNames + 1 {
		tr.WriteString("T" + strconv.Itoa(i) + ": 1\r\n")
	}
	req := "POST /v1/records HTTP/1.1\r\nHost: x\r\nX-API-Key: " + hrisKey + "\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n" + tr.String() + "\r\n"
	if r := raw(t, st.addr, req); r.status != 400 {
		t.Fatalf("%d trailer names: status %d, want 400", maxTrailerNames+1, r.status)
	}
	if n := len(st.up.received()); n != 0 {
		t.Fatalf("%d requests reached the upstream, want 0", n)
	}
}

// FuzzTrailerNames checks the sorted count against the obvious one (name
// by name, as dropTrailers used to count) for a header block and fields
// added after it, as fasthttp adds trailers; and that connectionListOK
// neither panics nor passes a protected name.
func FuzzTrailerNames(f *testing.F) {
	f.Add("X-A: 1\r\nx-b: 2\r\n", "X-A\nx-c\nX-C")
	f.Add("Connection: close, Host\r\n", "Connection")
	f.Fuzz(func(t *testing.T, block, added string) {
		var h fasthttp.RequestHeader
		if err := h.Read(bufio.NewReaderSize(strings.NewReader("GET / HTTP/1.1\r\nHost: x\r\n"+block+"\r\n"), 64<<10)); err != nil {
			return
		}
		for name := range strings.SplitSeq(added, "\n") {
			if name != "" && !strings.ContainsAny(name, ":\r\n \t") {
				h.Add(name, "v")
			}
		}
		raw := h.RawHeaders()
		var want []string
		for k := range h.All() {
			name := asciiLower(string(k))
			if slices.Contains(want, name) {
				continue
			}
			inMap, inRaw := 0, 0
			for k2 := range h.All() {
				if asciiLower(string(k2)) == name {
					inMap++
				}
			}
			for line := range strings.Lines(string(raw)) {
				if c := strings.IndexByte(line, ':'); c > 0 && asciiLower(line[:c]) == name {
					inRaw++
				}
			}
			if inMap > inRaw {
				want = append(want, name)
			}
		}
		got, n := trailerNames(&h, raw, nil)
		gotNames := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
		if len(got) == 0 {
			gotNames = nil
		}
		slices.Sort(want)
		if !slices.Equal(gotNames, want) || n != len(want) {
			t.Fatalf("trailer names %q (%d), want %q", gotNames, n, want)
		}
		if connectionListOK(raw) {
			for line := range strings.Lines(string(raw)) {
				c := strings.IndexByte(line, ':')
				if c < 0 || !strings.EqualFold(line[:c], "connection") {
					continue
				}
				for name := range strings.SplitSeq(strings.TrimRight(line[c+1:], "\r\n"), ",") {
					if protectedName([]byte(strings.Trim(name, " \t"))) {
						t.Fatalf("Connection line %q passed with protected name %q", line, name)
					}
				}
			}
		}
	})
}

// asciiLower lower-cases the ASCII letters of s only, as field names are
// compared (strings.ToLower would rewrite invalid UTF-8).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c | 0x20
		}
	}
	return string(b)
}
