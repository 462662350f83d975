package dataplane

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// Finding (left by review44 as documented, closed here): a response that
// was streaming when a push revoked its key, suspended its client or
// withdrew its scope ran to its end: a bulk export under a stolen key
// went on for as long as the service sent it, after the key was revoked.
// The request is decided again on the new tables (at the time it was
// sent) before each piece the service sends is passed on; refused, the
// response ends there, nothing read after the push reaches the client,
// the client sees the body cut (no last chunk), and the audit record
// carries the decision of the push and the bytes the client was sent. A
// push that refuses nothing (a key of another client revoked) ends
// nothing.
func TestPushCutsStreamingResponse(t *testing.T) {
	const after = "AFTER-THE-PUSH"
	amend := func(live policy.Live) func(*testing.T, *policy.Store) {
		return func(t *testing.T, store *policy.Store) {
			prev := store.Load()
			live.Revision = prev.Revision + 1
			next, err := policy.Amend(prev, live, nil)
			if err != nil {
				t.Fatal(err)
			}
			store.Swap(next)
		}
	}
	cases := []struct {
		name     string
		push     func(*testing.T, *policy.Store)
		decision audit.Decision
		http10   bool // the body goes to the client delimited by the close (stream10.go)
	}{
		{"key revoked", amend(policy.Live{RevokedKeys: map[string]bool{"acmehris1": true}}), audit.KeyRevoked, false},
		{"client suspended", amend(policy.Live{Suspended: map[string]struct{}{"acme-hris": {}}}), audit.Suspended, false},
		{"scope withdrawn", func(t *testing.T, store *policy.Store) {
			swapDoc(t, store, func(d *policy.Document) {
				for i := range d.Clients {
					if d.Clients[i].ID == "acme-hris" {
						d.Clients[i].Scopes = []string{"write:records"}
					}
				}
			})
		}, audit.Forbidden, false},
		{"key revoked, HTTP/1.0 client", amend(policy.Live{RevokedKeys: map[string]bool{"acmehris1": true}}), audit.KeyRevoked, true},
		{"another client's key revoked", amend(policy.Live{RevokedKeys: map[string]bool{"acmeadm1": true}}), audit.Allowed, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ps := startPausedStream(t, after)
			st := startStack(t, func(c *Config) { c.Upstream = ps.addr })
			proto := "HTTP/1.1"
			if tc.http10 {
				proto = "HTTP/1.0"
			}
			c := dialFor(t, st.addr)
			resp := ps.first(t, c, bufio.NewReader(c), "GET /v1/users/1 "+proto+"\r\nHost: svc\r\nConnection: close\r\nX-API-Key: "+hrisKey+"\r\n\r\n", "before the push")
			tc.push(t, st.store)
			rest, err := ps.rest(resp)
			rec := st.sink.waitLast(t, "the streamed response")
			if tc.decision == audit.Allowed {
				if err != nil || rest != after || rec.Decision != audit.Allowed || rec.BytesOut != int64(len(ps.piece)+len(after)) {
					t.Fatalf("after a push refusing nothing: rest %q, %v; audited %v, %d bytes out; want %q whole, allowed, %d bytes",
						rest, err, rec.Decision, rec.BytesOut, after, len(ps.piece)+len(after))
				}
				return
			}
			// A body delimited by the close cannot show its cut: the
			// client sees it end (RFC 9112 section 6.3), short.
			if err == nil && !tc.http10 || strings.Contains(rest, after) {
				t.Errorf("after the push: the client got %q and the body ended with error %v; want it cut, nothing of %q", rest, err, after)
			}
			// A revoked key's record names its key id, no client (as on
			// arrival); the others name the client.
			who, want := rec.Client, "acme-hris"
			if tc.decision == audit.KeyRevoked {
				who, want = string(rec.KeyID()), "acmehris1"
			}
			if rec.Decision != tc.decision || rec.Status != 200 || rec.BytesOut != int64(len(ps.piece)) || who != want {
				t.Errorf("audited %v, status %d, %d bytes out, by %q; want %v, 200, %d, by %q",
					rec.Decision, rec.Status, rec.BytesOut, who, tc.decision, len(ps.piece), want)
			}
		})
	}
}

// pausedStream is an upstream whose response streams through the
// sidecar and pauses between two pieces: a chunked 200 whose first piece
// is above streamAbove, then, once rest is called, after and the last
// chunk. The stream tests change something while it pauses.
type pausedStream struct {
	piece, after string
	addr         string // the upstream's
	more         chan struct{}
}

func startPausedStream(t *testing.T, after string) *pausedStream {
	t.Helper()
	ps := &pausedStream{piece: strings.Repeat("p", streamAbove+1), after: after, more: make(chan struct{})}
	ps.addr = startStreamUpstream(t, func(c net.Conn) error {
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n", len(ps.piece), ps.piece)
		<-ps.more
		fmt.Fprintf(c, "%x\r\n%s\r\n0\r\n\r\n", len(ps.after), ps.after)
		return io.EOF
	})
	return ps
}

// dialFor dials the sidecar at addr, the connection closed with the test
// and bounded by 20 seconds.
func dialFor(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

// first writes request on w, reads the response head from br and the
// first piece of its body, and returns the response, its body still
// streaming.
func (ps *pausedStream) first(t *testing.T, w io.Writer, br *bufio.Reader, request, when string) *http.Response {
	t.Helper()
	io.WriteString(w, request)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(ps.piece))
	if _, err := io.ReadFull(resp.Body, got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s: status %d, %v; want 200 and the first %d bytes", when, resp.StatusCode, err, len(ps.piece))
	}
	return resp
}

// rest lets the upstream send the rest and reads what of it the client
// gets, and how its body ended.
func (ps *pausedStream) rest(resp *http.Response) (string, error) {
	close(ps.more)
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// A push that cuts a response before fasthttp flushed a byte of it (the
// head and the body's start wait in its 4 KiB write buffer) leaves the
// client a closed connection and nothing else, and the record says so:
// status 0 and no bytes, with the push's decision, as a stream broken
// there is audited (TestStreamBrokenBeforeFirstByteAuditedAsSent).
func TestPushCutBeforeFirstFlushAuditedAsSent(t *testing.T) {
	written, more := make(chan struct{}), make(chan struct{})
	up := startStreamUpstream(t, func(c net.Conn) error {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+itoa(4*streamAbove)+"\r\n\r\n"+strings.Repeat("p", 100))
		close(written)
		<-more
		io.WriteString(c, strings.Repeat("q", 4*streamAbove-100))
		return io.EOF
	})
	st := startStack(t, func(c *Config) { c.Upstream = up })
	got := make(chan string, 1)
	go func() {
		got <- rawAll(t, st.addr, "GET /v1/users/1 HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nX-API-Key: "+hrisKey+"\r\n\r\n", 20*time.Second)
	}()
	select {
	case <-written:
	case <-time.After(10 * time.Second):
		t.Fatal("the request never reached the upstream")
	}
	prev := st.store.Load()
	next, err := policy.Amend(prev, policy.Live{Revision: prev.Revision + 1, RevokedKeys: map[string]bool{"acmehris1": true}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.store.Swap(next)
	close(more)
	body := <-got
	rec := st.sink.waitLast(t, "the cut response")
	if body != "" || rec.Decision != audit.KeyRevoked || rec.Status != 0 || rec.BytesOut != 0 {
		t.Errorf("the client got %d bytes; audited %v, status %d, %d bytes out; want nothing, and key_revoked, status 0, 0 bytes",
			len(body), rec.Decision, rec.Status, rec.BytesOut)
	}
}
