package dataplane

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
	"github.com/valyala/fasthttp"
)

// TestPolicyLoadedAfterHeadCheckIs503: a request with a body whose head
// the check before the body saw with no policy loaded has that body
// refused unread (headerReceived), and is answered 503 not_ready, the
// answer of the state its head was checked in, whatever is loaded by the
// time errorHandler answers. A policy loaded between the two (here by a
// hook run right after headerReceived: a race with the first policy's
// load) had errorHandler decide it on that policy as a body refused for
// its size: a chunked body past 16 KiB got 413, a declared one was
// authenticated and answered 429 token_failures_limited, and one with
// "Expect: 100-continue" got its 100 before either, its body then
// refused past one byte. With Expect or without, the answer is the same
// (TestNoPolicyAtHeadCheckSameWithOrWithoutExpect).
func TestPolicyLoadedAfterHeadCheckIs503(t *testing.T) {
	t.Parallel()
	const post = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n"
	body := strings.Repeat("a", 20<<10)
	cases := []struct{ name, head, body string }{
		{"chunked", post + "Transfer-Encoding: chunked\r\n", strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n0\r\n\r\n"},
		{"declared", post + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n", body},
		{"chunked-expect", post + "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := startUpstream(t)
			store, sink := &policy.Store{}, &memSink{}
			srv, err := New(Config{Store: store, Upstream: up.addr, Audit: sink})
			if err != nil {
				t.Fatal(err)
			}
			id := "notready-" + tc.name
			resp := answerAfterSwap(t, srv, store, loadExample(t), tc.head+"X-Request-ID: "+id+"\r\n\r\n"+tc.body)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 503 || !strings.Contains(string(b), `"error":"not_ready"`) {
				t.Errorf("answer %d %s, want 503 not_ready", resp.StatusCode, b)
			}
			if r := sink.withRequestID(t, id); r.Decision != audit.NotReady {
				t.Errorf("audited %v, want not_ready", r.Decision)
			}
			if n := len(up.received()); n > 0 {
				t.Errorf("the service got %d requests", n)
			}
		})
	}
}

// answerAfterSwap serves srv, with next swapped into store right after
// each request's check before its body (headerReceived), as a policy
// loaded or pushed between a head's check and its answer, sends req over
// a real socket and returns the first answer.
func answerAfterSwap(t *testing.T, srv *Server, store *policy.Store, next *policy.Snapshot, req string) *http.Response {
	t.Helper()
	c := dialAfterSwap(t, srv, store, next)
	io.WriteString(c, req)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// dialAfterSwap serves srv as answerAfterSwap does and returns a
// connection to it.
func dialAfterSwap(t *testing.T, srv *Server, store *policy.Store, next *policy.Snapshot) net.Conn {
	t.Helper()
	check := srv.srv.HeaderReceived
	srv.srv.HeaderReceived = func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
		rc := check(h)
		store.Swap(next) // after the head was checked, before its answer
		return rc
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		srv.Close()
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

// TestNoPolicyAtHeadCheckSameWithOrWithoutExpect: with no policy loaded
// when its head is checked and one loaded before its answer (the first
// load racing the request), a request gets the same answer whether or
// not it sends "Expect: 100-continue": a body of one byte, read with no
// policy, is decided on the policy loaded by then (200); a longer one,
// declared or chunked, is refused unread, 503 not_ready, and with Expect
// gets no 100. A declared body with Expect was decided when the
// expectation was answered, on the policy loaded by then, whatever its
// size: two bytes got a 100 and a 200 with Expect, 503 without.
func TestNoPolicyAtHeadCheckSameWithOrWithoutExpect(t *testing.T) {
	t.Parallel()
	const post = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n"
	for _, body := range []string{"a", "ab", strings.Repeat("a", 20<<10)} {
		for _, expect := range []bool{false, true} {
			name := strconv.Itoa(len(body)) + " bytes"
			if expect {
				name += ", Expect"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				up := startUpstream(t)
				store, sink := &policy.Store{}, &memSink{}
				srv, err := New(Config{Store: store, Upstream: up.addr, Audit: sink})
				if err != nil {
					t.Fatal(err)
				}
				id := "notready-expect-" + strconv.Itoa(len(body)) + "-" + strconv.FormatBool(expect)
				head := post + "X-Request-ID: " + id + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
				var r reply
				c := dialAfterSwap(t, srv, store, loadExample(t))
				if expect {
					r = firstAnswerOn(t, c, head+"Expect: 100-continue\r\n\r\n", body) // the body only after a 100
				} else {
					r = firstAnswerOn(t, c, head+"\r\n"+body, "")
				}
				if len(body) == 1 {
					if r.status != 200 {
						t.Fatalf("answer %d %s, want 200, decided on the policy loaded", r.status, r.body)
					}
					if got := up.received(); len(got) != 1 || got[0].body != 1 {
						t.Errorf("the service received %v, want the one request with its byte", got)
					}
					return
				}
				if r.status != 503 || r.errorBody(t).Error != "not_ready" {
					t.Fatalf("answer %d %s, want 503 not_ready (no 100), as without Expect", r.status, r.body)
				}
				if rec := sink.withRequestID(t, id); rec.Decision != audit.NotReady {
					t.Errorf("audited %v, want not_ready", rec.Decision)
				}
				if n := len(up.received()); n != 0 {
					t.Errorf("the service got %d requests", n)
				}
			})
		}
	}
}

// TestExpectWithoutPolicyGetsNoContinue: with no policy loaded when the
// expectation is answered, a request with "Expect: 100-continue" gets
// 503 not_ready and no 100, and its body is not read.
func TestExpectWithoutPolicyGetsNoContinue(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	store, sink := &policy.Store{}, &memSink{}
	srv, err := New(Config{Store: store, Upstream: up.addr, Audit: sink})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	const head = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nX-Request-ID: expect-nopolicy\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n"
	r := firstAnswer(t, ln.Addr().String(), head, "0123456789")
	if r.status != 503 || r.errorBody(t).Error != "not_ready" {
		t.Fatalf("answer %d %s, want 503 not_ready (no 100)", r.status, r.body)
	}
	if rec := sink.withRequestID(t, "expect-nopolicy"); rec.Decision != audit.NotReady {
		t.Errorf("audited %v, want not_ready", rec.Decision)
	}
	if n := len(up.received()); n != 0 {
		t.Errorf("the service got %d requests", n)
	}
}
