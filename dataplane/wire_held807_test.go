package dataplane

import (
	"bufio"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// The tests of this file hold what attack807 sent over real sockets and
// found held, where no test held it yet (docs/trust-boundary.md, "Tried
// and held (attack807)").

// unlimited raises every rate limit of the example policy out of the way,
// so that a test's many requests meet only the caps it is about.
func unlimited(d *policy.Document) {
	hi := &policy.LimitSpec{Rate: "100000/s", Burst: 100000}
	d.Tenants = append([]policy.TenantSpec(nil), d.Tenants...)
	for i := range d.Tenants {
		d.Tenants[i].Limit = hi
	}
	for i := range d.Clients {
		d.Clients[i].Limit = hi
	}
	for i := range d.Classes {
		d.Classes[i].Limit = hi
	}
}

// startBreakingUpstream is an upstream that breaks off as the query's
// mode says: hang (reads the request, answers nothing until the sidecar
// closes), partial (a 200 of 200,000 declared bytes, 70,000 sent, then
// nothing), closehead (the same, then its close), chunkhang (one chunk
// of 70,000 bytes, then nothing); any other mode gets a plain 200.
func startBreakingUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveBreaking(c)
		}
	}()
	return ln.Addr().String()
}

func serveBreaking(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		part := strings.Repeat("a", 70000)
		switch req.URL.Query().Get("mode") {
		case "hang":
		case "partial":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n"+part)
		case "closehead":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n"+part)
			return
		case "chunkhang":
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n", len(part), part)
		default:
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			continue
		}
		io.Copy(io.Discard, br) // nothing more until the sidecar closes
		return
	}
}

// settledSlots waits until acme's in-flight count and its bulk class's
// slots are back to zero with no request queued, and fails naming what
// after 10 s.
func settledSlots(t *testing.T, st *stack, what string) {
	t.Helper()
	snap := st.store.Load()
	acme := snap.Tenants["acme"]
	var bulk *policy.Class
	for _, c := range snap.Classes {
		if c.Name == "bulk" {
			bulk = c
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		tenant := st.srv.prepared.Load().tenantFlight[acme.Index].Load()
		class := st.srv.inflight.InFlight(acme.ClassKey[bulk.Index])
		queued := st.srv.inflight.Queued()
		if tenant == 0 && class == 0 && queued == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: acme holds %d in-flight slot(s), %d bulk slot(s), %d queued, 10s on; want none", what, tenant, class, queued)
		}
	}
}

// TestSlotsFreedWhenEitherSideBreaksOff: an export (the bulk class, a
// concurrency cap) whose service hangs, breaks off a streamed body or
// stalls mid-chunk, while its client waits, closes right after its
// request, closes once the head came or closes mid-body, gives back its
// tenant's in-flight slot and its class's slot, and the next export is
// served.
func TestSlotsFreedWhenEitherSideBreaksOff(t *testing.T) {
	t.Parallel()
	up := startBreakingUpstream(t)
	st := startStack(t, func(c *Config) {
		c.Upstream = up
		c.UpstreamTimeout = 300 * time.Millisecond
		c.TenantMaxInFlight = 2
	})
	swapDoc(t, st.store, unlimited)
	export := func(mode, length string) string {
		return "POST /v1/exports?mode=" + mode + " HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + adminKey +
			"\r\nContent-Length: " + length + "\r\n\r\n{}"
	}
	for _, mode := range []string{"hang", "partial", "closehead", "chunkhang"} {
		for _, client := range []string{"waits", "closes", "closes after the head", "closes mid-body"} {
			what := mode + ", the client " + client
			c, err := net.Dial("tcp", st.addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			switch client {
			case "waits":
				io.WriteString(c, export(mode, "2"))
				io.Copy(io.Discard, c)
			case "closes":
				io.WriteString(c, export(mode, "2"))
			case "closes after the head":
				io.WriteString(c, export(mode, "2"))
				c.Read(make([]byte, 64))
			case "closes mid-body":
				io.WriteString(c, export(mode, "2000"))
			}
			c.Close()
			settledSlots(t, st, what)
		}
	}
	if r := raw(t, st.addr, export("ok", "2")); r.status != 200 {
		t.Fatalf("the export after them: %d %s, want 200", r.status, r.body)
	}
}

// pathJunk are segments and suffixes spliced into routed paths by
// TestForwardedPathIsTheRoutedPath: dot segments plain and escaped,
// escaped delimiters, blanks and controls, overlong and separator UTF-8.
var pathJunk = []string{"..", ".", "%2e", "%2E%2e", ".%2e", "%2f", "", ";", "%3b", "%25", "%252e",
	"users", "v1", "reports", "tenants", "acme", "globex", "%61cme", "%3f", "%23", "x", "%5c",
	"%2e%2e%2f", "admin", "%09", "%20", "~", "%7e", "%41", "a.", "%00", "%c0%ae", "%e2%80%a8", "1"}

// mutatedPath returns one of the example's routed paths with up to two
// junk segments (each perhaps followed by a dot-dot segment) spliced in,
// and perhaps junk appended to one of its segments.
func mutatedPath(rng *rand.Rand) string {
	bases := [][]string{{"v1", "users"}, {"v1", "users", "1"}, {"v1", "reports", "1"},
		{"v1", "tenants", "acme", "users"}, {"v1", "tenants", "globex", "users"}, {"v1", "admin", "settings"}}
	segs := append([]string(nil), bases[rng.Intn(len(bases))]...)
	for m := rng.Intn(3); m > 0; m-- {
		at := rng.Intn(len(segs) + 1)
		ins := []string{pathJunk[rng.Intn(len(pathJunk))]}
		if rng.Intn(2) == 0 {
			ins = append(ins, []string{"..", "%2e%2e", ".%2E", "%2E."}[rng.Intn(4)])
		}
		segs = append(segs[:at], append(ins, segs[at:]...)...)
	}
	if rng.Intn(4) == 0 {
		i := rng.Intn(len(segs))
		segs[i] += pathJunk[rng.Intn(len(pathJunk))]
	}
	return "/" + strings.Join(segs, "/")
}

// TestForwardedPathIsTheRoutedPath sends 6,000 routed paths with dot
// segments, escapes and junk spliced in (a fixed seed), under keys of
// two tenants, and checks each one served: the path the service got is
// the audit record's, byte for byte; decoded as a service decodes it, it
// holds no dot segment and no empty one; and a tenant segment it has is
// the caller's tenant.
func TestForwardedPathIsTheRoutedPath(t *testing.T) {
	t.Parallel()
	st, up := startRecorded(t, nil)
	swapDoc(t, st.store, unlimited)
	tenantOf := map[string]string{hrisKey: "acme", globexKey: "globex", adminKey: "acme"}
	keys := []string{hrisKey, globexKey, adminKey}
	rng := rand.New(rand.NewSource(807))
	c, err := net.Dial("tcp", st.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Close() }()
	br := bufio.NewReader(c)
	served := 0
	for range 6000 {
		target, k := mutatedPath(rng), keys[rng.Intn(len(keys))]
		n := len(up.received())
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: svc\r\nX-API-Key: "+k+"\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Close {
			c.Close()
			if c, err = net.Dial("tcp", st.addr); err != nil {
				t.Fatal(err)
			}
			br = bufio.NewReader(c)
		}
		if resp.StatusCode != 200 {
			continue
		}
		served++
		got := up.only(t, n)
		fwd, _, _ := strings.Cut(got.uri, "?")
		rec := st.sink.withRequestID(t, got.header.Get("X-Request-Id"))
		if string(rec.Path()) != fwd {
			t.Errorf("%s: forwarded %q, audited %q", target, fwd, rec.Path())
		}
		dec, err := url.PathUnescape(fwd)
		if err != nil {
			t.Errorf("%s: forwarded %q, which does not decode: %v", target, fwd, err)
			continue
		}
		if path.Clean(dec) != dec {
			t.Errorf("%s: forwarded %q, which decodes to %q, not a clean path", target, fwd, dec)
		}
		if rest, ok := strings.CutPrefix(dec, "/v1/tenants/"); ok && !strings.HasPrefix(rest, tenantOf[k]+"/") {
			t.Errorf("%s: forwarded %q under %s's key", target, fwd, tenantOf[k])
		}
	}
	if served < 400 {
		t.Fatalf("%d of 6,000 served, want at least 400 to check", served)
	}
}

// TestWireHeldReview807: requests attack807 sent that no test held yet,
// each with Connection: close, and the status each gets; a refused one
// reaches nothing, a served one reaches the service once, as the
// origin-form target want names, with no Upgrade, credential or
// trailer-borne field.
func TestWireHeldReview807(t *testing.T) {
	t.Parallel()
	st, up := startRecorded(t, nil)
	const end = "Connection: close\r\n\r\n"
	hris := "X-API-Key: " + hrisKey + "\r\n"
	globex := "X-API-Key: " + globexKey + "\r\n"
	post := func(headers, body string) string {
		return "POST /v1/records HTTP/1.1\r\nHost: svc\r\n" + hris + headers + end + body
	}
	get := func(target, headers string) string {
		return "GET " + target + " HTTP/1.1\r\nHost: svc\r\n" + headers + end
	}
	for _, c := range []struct {
		name, req string
		status    int
		want      string // the target the service got, for a 200
	}{
		{"Transfer-Encoding: CHUNKED", post("Transfer-Encoding: CHUNKED\r\n", "3\r\nabc\r\n0\r\n\r\n"), 200, "/v1/records"},
		{"Transfer-Encoding with blanks", post("Transfer-Encoding:  chunked \r\n", "3\r\nabc\r\n0\r\n\r\n"), 200, "/v1/records"},
		{"Transfer-Encoding: chunked, identity", post("Transfer-Encoding: chunked, identity\r\n", "3\r\nabc\r\n0\r\n\r\n"), 400, ""},
		{"Transfer-Encoding: identity, no length", post("Transfer-Encoding: identity\r\n", "abc"), 400, ""},
		{"Transfer-Encoding empty beside a length", post("Transfer-Encoding: \r\nContent-Length: 3\r\n", "abc"), 400, ""},
		{"Content-Length before its colon", post("Content-Length : 3\r\n", "abc"), 400, ""},
		{"Content-Length past 2^64", post("Content-Length: 99999999999999999999999\r\n", "abc"), 400, ""},
		{"Content-Length in hex", post("Content-Length: 0x3\r\n", "abc"), 400, ""},
		{"a quoted CRLF in a chunk extension", post("Transfer-Encoding: chunked\r\n", "3;ext=\"a\r\nb\"\r\nabc\r\n0\r\n\r\n"), 400, ""},
		{"a chunk size of 21 digits", post("Transfer-Encoding: chunked\r\n", "000000000000000000003\r\nabc\r\n0\r\n\r\n"), 400, ""},
		{"a chunk size past 2^64", post("Transfer-Encoding: chunked\r\n", "ffffffffffffffff3\r\nabc\r\n0\r\n\r\n"), 400, ""},
		{"a key only in the trailer", "POST /v1/records HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n" + end +
			"3\r\nabc\r\n0\r\n" + hris + "\r\n", 401, ""},
		{"another tenant's key in the trailer", post("Transfer-Encoding: chunked\r\n", "3\r\nabc\r\n0\r\n"+globex+"\r\n"), 200, "/v1/records"},
		{"a space in a trailer name", post("Transfer-Encoding: chunked\r\n", "3\r\nabc\r\n0\r\nX Foo: y\r\n\r\n"), 400, ""},
		{"a WebSocket upgrade", get("/v1/users", hris+"Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"), 200, "/v1/users"},
		{"HTTP/2 prior knowledge", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, ""},
		{"host and Host", "GET /v1/users HTTP/1.1\r\nhost: svc\r\nHost: svc\r\n" + hris + end, 400, ""},
		{"a line without a colon", get("/v1/users", hris+"X-Foo\r\n"), 400, ""},
		{"a first line starting with a space", "GET /v1/users HTTP/1.1\r\n Host: svc\r\n" + hris + end, 400, ""},
		{"Connection listing Host", get("/v1/users", hris+"Connection: Host\r\n"), 400, ""},
		{"Connection listing X-Forwarded-For", get("/v1/users", hris+"Connection: X-Forwarded-For\r\n"), 400, ""},
		{"Connection listing X-Portcullis-Tenant", get("/v1/users", hris+"Connection: X-Portcullis-Tenant\r\n"), 400, ""},
		{"Connection listing X-Request-ID", get("/v1/users", hris+"Connection: X-Request-ID\r\n"), 400, ""},
		{"Connection listing X-API-Key", get("/v1/users", hris+"Connection: X-API-Key\r\n"), 200, "/v1/users"},
		{"HTTP/1.2", "GET /v1/users HTTP/1.2\r\nHost: svc\r\n" + hris + end, 400, ""},
		{"HTTP/2.0", "GET /v1/users HTTP/2.0\r\nHost: svc\r\n" + hris + end, 400, ""},
		{"http/1.1", "GET /v1/users http/1.1\r\nHost: svc\r\n" + hris + end, 400, ""},
		{"a blank after the version", "GET /v1/users HTTP/1.1 \r\nHost: svc\r\n" + hris + end, 400, ""},
		{"escaped dot segments", get("/v1/users/%2e%2e/%2e%2e/v1/users", hris), 200, "/v1/users"},
		{"..%3b segments", get("/v1/reports/..%3b/..%3b/users", globex), 404, ""},
		{"x%2F..", get("/v1/reports/x%2F..%2F..%2Fusers", globex), 400, ""},
		{"an IPv6 zone id", "GET http://[::1%25eth0]/v1/users HTTP/1.1\r\nHost: [::1%25eth0]\r\n" + hris + end, 400, ""},
		{"an absolute target without a path", "GET http://svc HTTP/1.1\r\nHost: svc\r\n" + hris + end, 404, ""},
		{"an absolute target with the path in its query", "GET http://svc?/v1/users HTTP/1.1\r\nHost: svc\r\n" + hris + end, 404, ""},
		{"an absolute target with the path in its fragment", "GET http://svc#/v1/users HTTP/1.1\r\nHost: svc\r\n" + hris + end, 400, ""},
		{"dot segments in the query", get("/v1/reports/x?/../users", globex), 200, "/v1/reports/x?/../users"},
		{"X-Original-URL", get("/v1/users", hris+"X-Original-URL: /v1/admin/settings\r\nX-Rewrite-URL: /v1/admin/settings\r\n"), 200, "/v1/users"},
		{"Basic on a public route", get("/v1/status", "Authorization: Basic YWxpY2U6c2VjcmV0\r\n"), 200, "/v1/status"},
		{"a key on a public route", get("/v1/status", hris), 200, "/v1/status"},
	} {
		n := len(up.received())
		r := raw(t, st.addr, c.req)
		if r.status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, r.status, r.body, c.status)
			continue
		}
		got := up.received()[n:]
		if c.status != 200 {
			if len(got) != 0 {
				t.Errorf("%s: refused %d, but the service got %d request(s)", c.name, c.status, len(got))
			}
			continue
		}
		if len(got) != 1 {
			t.Errorf("%s: the service got %d requests, want 1", c.name, len(got))
			continue
		}
		g := got[0]
		if g.uri != c.want {
			t.Errorf("%s: the service got %q, want %q", c.name, g.uri, c.want)
		}
		for _, name := range []string{"upgrade", "x-api-key", "authorization", "x-original-url", "x-rewrite-url", "transfer-encoding"} {
			if vs := g.values(name); len(vs) > 0 {
				t.Errorf("%s: the service got %s %q", c.name, name, vs)
			}
		}
		if tenant := g.values("x-portcullis-tenant"); c.want != "/v1/status" && c.want != "/v1/reports/x?/../users" && (len(tenant) != 1 || tenant[0] != "acme") {
			t.Errorf("%s: the service got X-Portcullis-Tenant %q, want acme", c.name, tenant)
		}
	}
}
