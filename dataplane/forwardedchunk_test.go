package dataplane

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// A request from a trusted proxy whose forwarded headers the handler
// refuses (X-Forwarded-For and Forwarded both) is 400 bad_request
// whatever its body. With a good credential and a chunked body over 16
// KiB, well within its class limit, it was 413 body_too_large, audited
// so: the pre-body check (0bda33a) refused it for its forwarded headers,
// fasthttp then refused the chunked body past 16 KiB and forgot its
// headers, and the refusal could only say its body was too large.
func TestChunkedBodyBehindRefusedForwardedHeadersIs400(t *testing.T) {
	t.Parallel()
	st := startStack(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) { d.TrustedProxies = []string{"127.0.0.9/32"} })
	const h = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nX-API-Key: " + hrisKey +
		"\r\nX-Forwarded-For: 198.51.100.7\r\nForwarded: for=198.51.100.7\r\n"
	for _, n := range []int{1000, 20000} {
		for _, chunked := range []bool{false, true} {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.9")}, Timeout: 10 * time.Second}
			c, err := d.Dial("tcp", st.addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			body := strings.Repeat("x", n)
			if chunked {
				io.WriteString(c, h+"Transfer-Encoding: chunked\r\n\r\n"+itoa16(n)+"\r\n"+body+"\r\n0\r\n\r\n")
			} else {
				io.WriteString(c, h+"Content-Length: "+itoa(n)+"\r\n\r\n"+body)
			}
			b, _ := io.ReadAll(c)
			c.Close()
			if !strings.HasPrefix(string(b), "HTTP/1.1 400 ") {
				t.Errorf("%d bytes, chunked %v: answers %s, want 400 bad_request", n, chunked, r36status(string(b)))
				continue
			}
			if rec := st.sink.last(t); rec.Decision != audit.BadRequest {
				t.Errorf("%d bytes, chunked %v: audited %v, want bad_request", n, chunked, rec.Decision)
			}
		}
	}
}
