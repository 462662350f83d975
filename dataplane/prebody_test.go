package dataplane

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A body larger than preBodyFree is read only for a request that has a
// route and, on a non-public route, a credential that verifies; a refused
// one gets the answer the handler would have given, without its body
// being sent (headers only: the sidecar answers before reading a byte of
// it), and a verified client's upload still goes through.
func TestPreBodyRefusedGetsHandlerAnswer(t *testing.T) {
	t.Parallel()
	st := startStack(t, nil)
	head := func(target, extra string) string {
		return "POST " + target + " HTTP/1.1\r\nHost: svc\r\nContent-Length: 1000000\r\n" + extra + "\r\n"
	}
	cases := []struct {
		name, req string
		status    int
		errName   string
	}{
		{"no credential", head("/v1/records", ""), 401, "unauthenticated"},
		{"unknown key", head("/v1/records", "X-API-Key: pk_acmehris1_NotTheSecret0000000000000000000001\r\n"), 401, "unauthenticated"},
		{"revoked key", head("/v1/records", "X-API-Key: "+revokedKey+"\r\n"), 401, "unauthenticated"},
		{"forged bearer", head("/v1/records", "Authorization: Bearer e30.e30.\r\n"), 401, "unauthenticated"},
		{"no route", head("/v1/nothing-here", ""), 404, "no_route"},
		{"over the class limit", strings.Replace(head("/v1/records", "X-API-Key: "+hrisKey+"\r\n"), "1000000", "9000000", 1), 413, "body_too_large"},
	}
	for _, c := range cases {
		r := raw(t, st.addr, c.req)
		if r.status != c.status {
			t.Errorf("%s: status %d, want %d (body %q)", c.name, r.status, c.status, r.body)
			continue
		}
		if got := r.errorBody(t).Error; got != c.errName {
			t.Errorf("%s: error %q, want %q", c.name, got, c.errName)
		}
		if c.status == 401 && r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", c.name)
		}
	}
	big := strings.Repeat("b", 100<<10)
	if r := do(t, st.addr, "POST", "/v1/records", key(hrisKey), big); r.status != 200 {
		t.Fatalf("verified client's 100 KiB upload: status %d, want 200", r.status)
	}
	got := st.up.received()
	if len(got) != 1 || got[0].body != len(big) {
		t.Fatalf("upstream received %+v, want one request with a %d-byte body", got, len(big))
	}
	if r := do(t, st.addr, "POST", "/v1/records", nil, big); r.status != 401 {
		t.Fatalf("unauthenticated 100 KiB upload sent whole: status %d, want 401", r.status)
	}
}

// "Expect: 100-continue" gets 100 only from a request whose body would be
// read: one without a verified credential gets its final answer instead,
// in the JSON shape, and a verified one gets 100 and then its answer.
func TestExpectContinueAfterAuthentication(t *testing.T) {
	t.Parallel()
	st := startStack(t, nil)
	status := func(extra string) (first, final int) {
		c, err := net.Dial("tcp", st.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "POST /v1/records HTTP/1.1\r\nHost: svc\r\nExpect: 100-continue\r\nContent-Length: 2\r\n"+extra+"\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 100 {
			b, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(b), `"request_id"`) {
				t.Errorf("final answer without the JSON error shape: %q", b)
			}
			return resp.StatusCode, resp.StatusCode
		}
		io.WriteString(c, "{}")
		if resp, err = http.ReadResponse(br, nil); err != nil {
			t.Fatal(err)
		}
		return 100, resp.StatusCode
	}
	if first, _ := status(""); first != 401 {
		t.Errorf("no credential: first answer %d, want 401 (no 100 before authentication)", first)
	}
	if first, _ := status("X-API-Key: " + revokedKey + "\r\n"); first != 401 {
		t.Errorf("revoked key: first answer %d, want 401", first)
	}
	if first, final := status("X-API-Key: " + hrisKey + "\r\n"); first != 100 || final != 200 {
		t.Errorf("verified key: answers %d then %d, want 100 then 200", first, final)
	}
}

// A large request body buffer is not handed back to fasthttp's body pool
// (which would keep it for any later request) once its request is done;
// a small one is, for reuse.
func TestBigBodyBufferNotPooled(t *testing.T) {
	m := newInmem(t, false)
	big := strings.Repeat("b", maxPooledBody+1)
	m.serve(t, append(request("POST", "/v1/records", hrisKey, "Content-Length: "+strconv.Itoa(len(big))), big...))
	if n := len(m.ctx.Request.Body()); n != 0 {
		t.Errorf("after a %d-byte request, the request still holds a %d-byte body buffer, want 0", len(big), n)
	}
	small := "{}"
	m.serve(t, append(request("POST", "/v1/records", hrisKey, "Content-Length: 2"), small...))
	if n := len(m.ctx.Request.Body()); n != len(small) {
		t.Errorf("after a 2-byte request, body %d bytes, want it kept (2)", n)
	}
}
