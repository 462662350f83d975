package dataplane

import (
	"bufio"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/audit"
	"github.com/valyala/fasthttp"
)

// fasthttp keeps a trailer field whose name has a space inside ("X
// Portcullis-Tenant"), unnormalised, and merges it into the header map;
// dropTrailers deleted each trailer name lower-cased, which fasthttp's Del
// matches only on a normalised name, so such a field stayed and reached
// the service as a header line nothing checked, where the header section
// refuses any name with a byte but a letter, digit or '-'
// (TestHeaderNameLookalikesRefused) and a response refuses a spaced name
// (TestUpstreamHeaderNameWithSpaceRefused). A parser that cuts the name at
// the space, or folds it as CGI does, reads a header the sidecar removes
// or sets. Such a trailer is now a 400, audited bad_request, and nothing
// reaches the upstream.
func TestTrailerNameWithSpaceRefused(t *testing.T) {
	t.Parallel()
	up := startNaiveUpstream(t)
	st := startStack(t, func(c *Config) { c.Upstream = up.addr })
	for _, trailer := range []string{
		"X Portcullis-Tenant: globex",
		"X-HTTP-Method-Override Now: DELETE",
		"X-Foo Bar: 1",
	} {
		req := "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey +
			"\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n" + trailer + "\r\n\r\n"
		r := raw(t, st.addr, req)
		if r.status != 400 || r.errorBody(t).Error != "bad_request" {
			t.Errorf("trailer %q: got %d %s, want 400 bad_request", trailer, r.status, r.body)
		}
		if rec := st.sink.last(t); rec.Decision != audit.BadRequest {
			t.Errorf("trailer %q: audited %v, want bad_request", trailer, rec.Decision)
		}
	}
	for _, h := range up.received() {
		for name := range h.header {
			if strings.Contains(name, " ") {
				t.Errorf("the upstream got a header named %q from a trailer", name)
			}
		}
	}
	if n := len(up.received()); n != 0 {
		t.Errorf("%d requests reached the upstream, want 0", n)
	}
}

// TestUserAgentTrailerNotForwarded: fasthttp keeps the head's User-Agent
// apart from its other lines (the last one of the head, empty: none) and
// appends a trailer's User-Agent, which it does not forbid, to those
// lines. dropTrailers found trailers by counting each name in the map
// against the raw head, so a head with two User-Agent lines (the map keeps
// one) or an empty one (the map keeps none) hid a trailer's, which reached
// the service as a header line the client never sent in the head.
func TestUserAgentTrailerNotForwarded(t *testing.T) {
	t.Parallel()
	up := startHeadRecorder(t)
	st := startStack(t, func(c *Config) { c.Upstream = up.addr })
	for _, c := range []struct {
		name, head string
		want       []string // the User-Agent lines the service gets
	}{
		{"one line", "User-Agent: a\r\n", []string{"User-Agent: a"}},
		{"two lines", "User-Agent: a\r\nUser-Agent: b\r\n", []string{"User-Agent: b"}}, // fasthttp keeps the last
		{"empty line", "User-Agent:\r\n", nil},
		{"none", "", nil},
		{"two lines, lower case", "user-agent: a\r\nuser-agent: b\r\n", []string{"User-Agent: b"}},
	} {
		req := "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n" + c.head +
			"Transfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\nUser-Agent: forged\r\n\r\n"
		r := raw(t, st.addr, req)
		if r.status != 200 {
			t.Errorf("%s: got %d %s, want 200", c.name, r.status, r.body)
			continue
		}
		var got []string
		for _, l := range <-up.heads {
			if k, _, _ := strings.Cut(l, ":"); strings.EqualFold(k, "user-agent") {
				got = append(got, l)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: the service got the User-Agent lines %q, want %q (a trailer reached it)", c.name, got, c.want)
		}
	}
}

// TestTrailerLeavesHeaderLinesInPlace: a trailer field named like header
// lines of the head is removed, and those header lines reach the service
// where the client put them among the others. dropTrailers deleted every
// line of the name and appended the head's lines again, last, so
// "X-A: 1" sent before "Cookie" and "X-B" reached the service after them.
func TestTrailerLeavesHeaderLinesInPlace(t *testing.T) {
	t.Parallel()
	up := startHeadRecorder(t)
	st := startStack(t, func(c *Config) { c.Upstream = up.addr })
	head := []string{"X-A: 1", "Cookie: a=b", "X-B: 2", "X-A: 3", "X-Empty: ", "X-C: 4", "User-Agent: ua"}
	for _, c := range []struct{ name, trailers string }{
		{"once", "X-A: t\r\n"},
		{"twice, beside other names", "X-B: t\r\nX-A: t\r\nX-Trailer: t\r\nX-A: t2\r\n"},
		{"empty value, special name", "X-Empty:\r\nUser-Agent: t\r\nx-c: t\r\n"},
	} {
		req := "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n" + strings.Join(head, "\r\n") +
			"\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n" + c.trailers + "\r\n"
		r := raw(t, st.addr, req)
		if r.status != 200 {
			t.Errorf("%s: got %d %s, want 200", c.name, r.status, r.body)
			continue
		}
		var got []string
		for _, l := range <-up.heads {
			if k, _, _ := strings.Cut(l, ":"); !strings.HasPrefix(k, "X-Portcullis-") &&
				k != "X-Forwarded-For" && k != "X-Request-Id" && k != "Host" && k != "Content-Length" {
				got = append(got, l)
			}
		}
		want := append([]string{"User-Agent: ua"}, slices.DeleteFunc(slices.Clone(head), func(l string) bool { return strings.HasPrefix(l, "User-Agent") })...)
		if !slices.Equal(got, want) {
			t.Errorf("%s: the service got the header lines\n\t%s\nwant\n\t%s", c.name, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
		}
	}
}

// FuzzDropTrailers reads a chunked request of a header block and a
// trailer section: once trailersOK let it through and dropTrailers ran,
// fasthttp renders the lines of the header block alone, in its order (the
// framing aside), whatever the trailers' names, spellings and repeats.
func FuzzDropTrailers(f *testing.F) {
	f.Add("X-A: 1\r\nUser-Agent: u\r\nX-B: 2\r\nX-A: 3\r\n", "X-A: t\r\nUser-Agent: x\r\n")
	f.Add("Cookie: a=b\r\nx-a: 1\r\nUser-Agent:\r\n", "x_a: t\r\nX-A: 2\r\nuser-agent: v\r\nX-Portcullis-Tenant: globex\r\n")
	f.Fuzz(func(t *testing.T, head, trailers string) {
		for _, b := range []string{head, trailers} {
			if b != "" && !strings.HasSuffix(b, "\r\n") || strings.ContainsAny(strings.ReplaceAll(b, "\r\n", ""), "\r\n") {
				return // scanHeaders refuses a bare CR or LF
			}
		}
		var hd requestHeaders
		if !scanHeaders([]byte(head), &hd) || hd.hop || hd.chunked {
			return // the framing and the hop-by-hop headers are prepareRequest's
		}
		var req fasthttp.Request
		var ref fasthttp.RequestHeader
		err := req.Read(bufio.NewReader(strings.NewReader("POST / HTTP/1.1\r\nHost: x\r\n" + head +
			"Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n" + trailers + "\r\n")))
		if err != nil {
			return
		}
		if err := ref.Read(bufio.NewReader(strings.NewReader("POST / HTTP/1.1\r\nHost: x\r\n" + head + "\r\n"))); err != nil {
			t.Fatalf("the header block %q alone does not parse: %v", head, err)
		}
		x := &exchange{}
		if !trailersOK(&req.Header, x) {
			return
		}
		delHeader(&req.Header, []byte("Transfer-Encoding"), x)
		dropTrailers(&req.Header, x)
		lines := func(h *fasthttp.RequestHeader) []string {
			var out []string
			for _, l := range strings.Split(h.String(), "\r\n")[1:] {
				if k, _, _ := strings.Cut(l, ":"); l != "" && k != "Content-Length" {
					out = append(out, l)
				}
			}
			return out
		}
		if got, want := lines(&req.Header), lines(&ref); !slices.Equal(got, want) {
			t.Fatalf("header block %q, trailers %q: the lines left are\n\t%q\nwant those of the header block\n\t%q", head, trailers, got, want)
		}
	})
}
