package dataplane

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
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
