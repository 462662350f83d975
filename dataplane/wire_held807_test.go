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
