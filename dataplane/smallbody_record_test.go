package dataplane

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// TestSmallBodyFailureRecordNamesTheRequest: a declared body of at most
// 16 KiB, which the check before the body skips (headerReceived reads it
// whole for the handler), that stalls past ReadTimeout or is cut short
// reaches errorHandler with its headers gone (fasthttp resets a request
// whose body fails). It was answered 400 under a request id the sidecar
// made and recorded as "GET -", no User-Agent, the forwarded client
// behind a trusted proxy lost: only a body past 16 KiB or chunked kept
// its head's names (TestChunkedBadFramingRecordNamesTheRequest). Every
// request whose head fasthttp parsed keeps them now (conn.names), on a
// keep-alive connection its own and not the request's before.
func TestSmallBodyFailureRecordNamesTheRequest(t *testing.T) {
	slow, rec := startRecorded(t, func(c *Config) { c.ReadTimeout = 300 * time.Millisecond })
	// A class of max_body 8 KiB: a 12000-byte body to the 64 KiB bulk
	// class is past it, so the check before the body looks at its head,
	// and passes it for its size within 16 KiB (preBodyLimit).
	small, _ := startRecorded(t, func(c *Config) { c.ReadTimeout = 300 * time.Millisecond })
	swapDoc(t, small.store, smallClass)
	proxied, _ := startRecorded(t, func(c *Config) { c.ReadTimeout = 300 * time.Millisecond })
	swapDoc(t, proxied.store, func(d *policy.Document) { d.TrustedProxies = []string{"127.0.0.9/32"} })

	head := func(line, id, cred, cl string) string {
		return line + " HTTP/1.1\r\nHost: svc\r\nUser-Agent: small/4\r\nX-Request-ID: " + id + "\r\n" + cred + "Content-Length: " + cl + "\r\n\r\n"
	}
	key := "X-API-Key: " + hrisKey + "\r\n"
	type answer func(t *testing.T, addr, req string) reply
	cut := func(t *testing.T, addr, req string) reply { return cutAnswer(t, addr, req) }
	stall := func(t *testing.T, addr, req string) reply { return firstAnswer(t, addr, req, "") }
	proxy := func(t *testing.T, addr, req string) reply { return proxiedFirstAnswer(t, addr, req, "") }
	for _, c := range []struct {
		name, id, path, req string
		st                  *stack
		send                answer
		source              string
	}{
		{"verified, stalled", "small-stalled", "/v1/records", head("POST /v1/records", "small-stalled", key, "100") + "0123456789", slow, stall, ""},
		{"verified, cut", "small-cut", "/v1/records", head("POST /v1/records", "small-cut", key, "100") + "0123456789", slow, cut, ""},
		{"no credential, stalled", "small-anon", "/v1/records", head("POST /v1/records", "small-anon", "", "16384") + "{", slow, stall, ""},
		{"absolute form, stalled", "small-absolute", "/v1/records", head("POST http://svc/v1/records", "small-absolute", key, "100") + "{", slow, stall, ""},
		{"dot segments, stalled", "small-dots", "/v1/records", head("POST /v1/x/../records", "small-dots", key, "2") + "{", slow, stall, ""},
		{"passed before the body, stalled", "small-passed", "/v1/exports", head("POST /v1/exports", "small-passed", "X-API-Key: "+adminKey+"\r\n", "12000") + "{", small, stall, ""},
		{"behind a trusted proxy, stalled", "small-proxied", "/v1/records", strings.Replace(head("POST /v1/records", "small-proxied", key, "100"), "Host: svc\r\n", "Host: svc\r\nX-Forwarded-For: 198.51.100.7\r\n", 1) + "{", proxied, proxy, "198.51.100.7"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := c.send(t, c.st.addr, c.req)
			if r.status != 400 {
				t.Fatalf("answer %d %q, want 400", r.status, r.body)
			}
			if got, body := r.header.Get("X-Request-Id"), r.errorBody(t).RequestID; got != c.id || body != c.id {
				t.Errorf("answered with request id %q (header) %q (body), want the client's %q", got, body, c.id)
			}
			rec := c.st.sink.withRequestID(t, r.errorBody(t).RequestID)
			if string(rec.Method()) != "POST" || string(rec.Path()) != c.path || string(rec.UserAgent()) != "small/4" || rec.Decision != audit.BadRequest || rec.Status != 400 {
				t.Errorf("audited %v %d %q %q user agent %q, want bad_request 400 POST %s small/4", rec.Decision, rec.Status, rec.Method(), rec.Path(), rec.UserAgent(), c.path)
			}
			if c.source != "" && rec.SourceIP != netip.MustParseAddr(c.source) {
				t.Errorf("audited source %v, want the forwarded client %s", rec.SourceIP, c.source)
			}
		})
	}

	// On a keep-alive connection, the request whose body stalls is named,
	// not the one before it, which was served.
	t.Run("pipelined after a served request", func(t *testing.T) {
		c, err := net.Dial("tcp", slow.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		first := strings.Replace(head("POST /v1/records", "small-first", key, "2"), "small/4", "first/1", 1) + "{}"
		io.WriteString(c, first+head("POST /v1/records?page=2", "small-second", key, "50")+"{")
		br := bufio.NewReader(c)
		for i, want := range []int{200, 400} {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("answer %d: %v", i+1, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want || resp.Header.Get("X-Request-Id") != []string{"small-first", "small-second"}[i] {
				t.Fatalf("answer %d: %d request id %q, want %d", i+1, resp.StatusCode, resp.Header.Get("X-Request-Id"), want)
			}
		}
		rec := slow.sink.withRequestID(t, "small-second")
		if string(rec.Method()) != "POST" || string(rec.Path()) != "/v1/records" || string(rec.UserAgent()) != "small/4" || rec.Decision != audit.BadRequest {
			t.Errorf("audited %v %q %q user agent %q, want bad_request POST /v1/records small/4", rec.Decision, rec.Method(), rec.Path(), rec.UserAgent())
		}
	})
	if got := rec.received(); len(got) != 1 {
		t.Fatalf("the upstream got %d request(s), want the one served", len(got))
	}
}

// cutAnswer sends req to addr, closes its side of the connection, so the
// body it declares ends short, and reads the answer.
func cutAnswer(t *testing.T, addr, req string) reply {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer to %.120q: %v", req, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}
