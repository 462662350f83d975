package dataplane

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// RFC 9110 section 10.1.1: the expectation is case-insensitive. fasthttp
// answers only "100-continue" as written, so "Expect: 100-Continue" got
// no 100 (its body was read without one while the client waited for it,
// and a verified client's request stalled until the client gave up
// waiting). headerReceived writes the
// value in lower case before fasthttp looks at it, so any spelling is
// answered as "100-continue" is: 100 after the check before the body,
// else the final answer (chunkrec140).
func TestExpectContinueAnyCase(t *testing.T) {
	t.Parallel()
	st := startStack(t, nil)
	first := func(t *testing.T, head string) (int, int) {
		t.Helper()
		c, err := net.Dial("tcp", st.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, head) // the body only after a 100
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%q: waiting for the first answer: %v", head, err)
		}
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 100 {
			return resp.StatusCode, 0
		}
		io.WriteString(c, "{}")
		if resp, err = http.ReadResponse(br, nil); err != nil {
			t.Fatal(err)
		}
		return 100, resp.StatusCode
	}
	for _, v := range []string{"100-Continue", "100-CONTINUE"} {
		t.Run(v, func(t *testing.T) {
			const post = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nContent-Length: 2\r\n"
			if a, b := first(t, post+"Expect: "+v+"\r\nX-API-Key: "+hrisKey+"\r\n\r\n"); a != 100 || b != 200 {
				t.Errorf("verified key: answers %d then %d, want 100 then 200", a, b)
			}
			if a, _ := first(t, post+"Expect: "+v+"\r\n\r\n"); a != 401 {
				t.Errorf("no credential: first answer %d, want 401", a)
			}
			const post10 = "POST /v1/records HTTP/1.0\r\nHost: svc\r\nContent-Length: 2\r\n"
			if a, _ := first(t, post10+"Expect: "+v+"\r\nX-API-Key: "+hrisKey+"\r\n\r\n{}"); a != 200 {
				t.Errorf("HTTP/1.0, its body sent: first answer %d, want 200, the expectation ignored (TestExpectFromHTTP10Ignored)", a)
			}
		})
	}
}

// TestExpectWithoutBodyAnyCase: an HTTP/1.1 request without a body that
// carries "Expect: 100-continue" has nothing to wait for (RFC 9110
// section 10.1.1 lets a server omit the 100 when the framing says there
// is no content), and is served as one without Expect, in any case of
// the token: the whole byte stream the client gets on a keep-alive
// pipeline is the one it gets without the line. fasthttp heeds only
// "100-continue" as written: that spelling got "HTTP/1.1 100 Continue"
// before the answer, had its head checked before the body there was not
// (a refusal answered by the Expect hook, which closes the connection,
// so the requests pipelined behind it went unanswered), while
// "100-Continue" was served as without Expect.
func TestExpectWithoutBodyAnyCase(t *testing.T) {
	t.Parallel()
	st := startStack(t, func(c *Config) {
		c.Store = &policy.Store{} // the rate limits raised: each stream is compared with the first
		c.Store.Swap(withoutLimits(t, loadExample(t)))
	})
	key := "X-API-Key: " + hrisKey + "\r\n"
	stream := func(t *testing.T, first string) string {
		t.Helper()
		c, err := net.Dial("tcp", st.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, first+
			"GET /v1/users/42 HTTP/1.1\r\nHost: svc\r\n"+key+"X-Request-ID: second\r\n\r\n"+
			"GET /v1/users HTTP/1.1\r\nHost: svc\r\n"+key+"X-Request-ID: third\r\nConnection: close\r\n\r\n")
		b, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("reading the answers: %v", err)
		}
		// The answers' Date lines differ by the second they were sent in.
		var out []string
		for _, line := range strings.SplitAfter(string(b), "\r\n") {
			if !strings.HasPrefix(strings.ToLower(line), "date:") {
				out = append(out, line)
			}
		}
		return strings.Join(out, "")
	}
	for _, c := range []struct{ name, head string }{
		{"verified GET", "GET /v1/users/42 HTTP/1.1\r\nHost: svc\r\n" + key},
		{"GET without a credential", "GET /v1/users/42 HTTP/1.1\r\nHost: svc\r\n"},
		{"verified POST, Content-Length: 0", "POST /v1/records HTTP/1.1\r\nHost: svc\r\n" + key + "Content-Length: 0\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := stream(t, c.head+"X-Request-ID: first\r\n\r\n")
			if n := strings.Count(want, "HTTP/1.1 "); n != 3 {
				t.Fatalf("without Expect: %d answers, want 3:\n%s", n, want)
			}
			for _, v := range []string{"100-continue", "100-Continue", "100-CONTINUE"} {
				if got := stream(t, c.head+"Expect: "+v+"\r\nX-Request-ID: first\r\n\r\n"); got != want {
					t.Errorf("Expect: %s: the client got\n%q\nwithout Expect\n%q", v, got, want)
				}
			}
		})
	}
	for _, r := range st.up.received() {
		if _, ok := r.headers["expect"]; ok {
			t.Errorf("the upstream got Expect: %q", r.headers["expect"])
		}
	}
}
