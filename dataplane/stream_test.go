package dataplane

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// startBulkUpstream is a real TCP service answering every request with a
// body of size bytes written 32 KiB at a time, framed by Content-Length or,
// with chunked, as 32 KiB chunks; it never holds the body in memory.
func startBulkUpstream(t testing.TB, size int, chunked bool) string {
	t.Helper()
	piece := []byte(strings.Repeat("0123456789abcdef", 2048))
	return startStreamUpstream(t, func(c net.Conn) error {
		head := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", size)
		if chunked {
			head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
		}
		if _, err := io.WriteString(c, head); err != nil {
			return err
		}
		for left := size; left > 0; {
			p := piece[:min(left, len(piece))]
			if chunked {
				if _, err := fmt.Fprintf(c, "%x\r\n", len(p)); err != nil {
					return err
				}
			}
			if _, err := c.Write(p); err != nil {
				return err
			}
			if chunked {
				if _, err := io.WriteString(c, "\r\n"); err != nil {
					return err
				}
			}
			left -= len(p)
		}
		if chunked {
			_, err := io.WriteString(c, "0\r\n\r\n")
			return err
		}
		return nil
	})
}

// startHeldUpstream starts an upstream that signals each request on
// arrived, then holds it until release is closed (or sent on) and answers
// 200 "ok": the requests the tests of concurrency caps keep in flight.
func startHeldUpstream(t testing.TB) (addr string, arrived, release chan struct{}) {
	arrived, release = make(chan struct{}, 8), make(chan struct{})
	addr = startStreamUpstream(t, func(c net.Conn) error {
		arrived <- struct{}{}
		<-release
		_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return err
	})
	return addr, arrived, release
}

// startStreamUpstream serves each request of each connection with write.
func startStreamUpstream(t testing.TB, write func(c net.Conn) error) string {
	t.Helper()
	return acceptEach(t, func(_ int, c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			if write(c) != nil {
				return
			}
		}
	}).Addr().String()
}

// heapInUse is the heap in use after two collections (the second empties
// what sync.Pools kept from the first).
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// Item 9 of issue 12: a large response is streamed with bounded buffers,
// not held whole. While a client has read only the first MiB of a 32 MiB
// response, the heap of the process (sidecar and upstream, which streams)
// holds far less than the body; the whole body then arrives intact, and
// the audit record counts every byte sent.
func TestLargeResponseStreamed(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			const size = 32 << 20
			up := startBulkUpstream(t, size, chunked)
			st := startStack(t, func(c *Config) { c.Upstream = up })
			before := heapInUse()

			c, err := net.Dial("tcp", st.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			fmt.Fprintf(c, "GET /v1/users/42 HTTP/1.1\r\nHost: svc\r\nX-API-Key: %s\r\n\r\n", hrisKey)
			br := bufio.NewReaderSize(c, 64<<10)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			if _, err := io.CopyN(io.Discard, resp.Body, 1<<20); err != nil {
				t.Fatal(err)
			}
			// The client stops reading: the sidecar now holds what its
			// buffers hold, and the kernel's socket buffers the rest.
			if grew := int64(heapInUse()) - int64(before); grew > 16<<20 {
				t.Errorf("heap grew by %d MiB while a 32 MiB response was in flight, want under 16 MiB", grew>>20)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			if err != nil {
				t.Fatalf("after %d bytes: %v", n+1<<20, err)
			}
			if got := n + 1<<20; got != size {
				t.Fatalf("body %d bytes, want %d", got, size)
			}
			resp.Body.Close()
			rec := waitRecord(t, st.sink, 1)
			if rec.BytesOut != size || rec.Decision != audit.Allowed || rec.Status != 200 {
				t.Errorf("audit bytes_out %d decision %v status %d, want %d allowed 200", rec.BytesOut, rec.Decision, rec.Status, size)
			}
			// The connection goes on: a second request on it is answered.
			fmt.Fprintf(c, "GET /v1/status HTTP/1.1\r\nHost: svc\r\n\r\n")
			resp, err = http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("second request on the connection: %v", err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("second request: status %d, want 200", resp.StatusCode)
			}
		})
	}
}

// waitRecord waits until the sink holds n records and returns the last.
// A streamed response is audited when its body is out, after the client
// may have read it.
func waitRecord(t *testing.T, m *memSink, n int) audit.Record {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m.mu.Lock()
		got := len(m.recs)
		m.mu.Unlock()
		if got >= n {
			return m.last(t)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d audit records after 30s, want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// withResponseLimit sets max_response_body of class to limit.
func withResponseLimit(t testing.TB, snap *policy.Snapshot, class, limit string) *policy.Snapshot {
	t.Helper()
	doc := *snap.Doc
	doc.Classes = append([]policy.ClassSpec(nil), doc.Classes...)
	for i := range doc.Classes {
		if doc.Classes[i].Name == class {
			doc.Classes[i].MaxResponseBody = limit
		}
	}
	out, err := policy.Compile(&doc, policy.Live{Revision: snap.Revision + 1})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A response body past the class's max_response_body is not forwarded:
// a declared length over it is 502 in the JSON error shape before any byte
// is sent; a chunked body that grows past it is cut off (the client sees
// the chunked body end without its last chunk) and audited as
// response_too_large. Responses within it pass.
func TestMaxResponseBody(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			up := startBulkUpstream(t, 2<<20, chunked)
			st := startStack(t, func(c *Config) { c.Upstream = up })
			st.store.Swap(withResponseLimit(t, loadExample(t), "standard", "1MiB"))

			c, err := net.Dial("tcp", st.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			fmt.Fprintf(c, "GET /v1/users/42 HTTP/1.1\r\nHost: svc\r\nX-API-Key: %s\r\n\r\n", hrisKey)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, readErr := io.ReadAll(resp.Body)
			resp.Body.Close()
			rec := waitRecord(t, st.sink, 1)
			if rec.Decision != audit.ResponseTooLarge {
				t.Errorf("audit decision %v, want response_too_large", rec.Decision)
			}
			if !chunked {
				r := reply{status: resp.StatusCode, header: resp.Header, body: string(body)}
				if r.status != 502 || r.errorBody(t).Error != "response_too_large" {
					t.Fatalf("status %d body %q, want 502 response_too_large", r.status, body)
				}
				return
			}
			if readErr == nil || len(body) > 1<<20 {
				t.Fatalf("chunked body of %d bytes read with error %v, want it cut at 1 MiB with an error", len(body), readErr)
			}
			if rec.BytesOut > 1<<20 {
				t.Errorf("audit bytes_out %d, want at most 1 MiB", rec.BytesOut)
			}
		})
	}
	t.Run("within the limit", func(t *testing.T) {
		up := startBulkUpstream(t, 512<<10, true)
		st := startStack(t, func(c *Config) { c.Upstream = up })
		st.store.Swap(withResponseLimit(t, loadExample(t), "standard", "1MiB"))
		r := do(t, st.addr, "GET", "/v1/users/42", key(hrisKey), "")
		if r.status != 200 || len(r.body) != 512<<10 {
			t.Fatalf("status %d, %d bytes, want 200 and 512 KiB", r.status, len(r.body))
		}
	})
}

// A body delimited by the end of the connection (no length, not chunked)
// is streamed to the client whole, and that connection is never pooled:
// the next request gets a fresh one and its own answer.
func TestCloseDelimitedResponse(t *testing.T) {
	var served int
	var mu sync.Mutex // guards served
	up := startStreamUpstream(t, func(c net.Conn) error {
		mu.Lock()
		served++
		n := served
		mu.Unlock()
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nresponse %d, until close", n)
		return io.EOF // close the connection: that ends the body
	})
	st := startStack(t, func(c *Config) { c.Upstream = up })
	for i := 1; i <= 3; i++ {
		r := do(t, st.addr, "GET", "/v1/users/42", key(hrisKey), "")
		if want := fmt.Sprintf("response %d, until close", i); r.status != 200 || r.body != want {
			t.Fatalf("request %d: status %d body %q, want 200 %q", i, r.status, r.body, want)
		}
	}
}

// A streamed body is written to the client with the length it was framed
// by, whatever the header says after hop-by-hop scrubbing: an upstream
// listing Content-Length in Connection gets its header dropped, not a body
// written after "Content-Length: 0" (which the client would read as the
// next response).
func TestStreamedLengthKept(t *testing.T) {
	const size = 100000
	up := startStreamUpstream(t, func(c net.Conn) error {
		_, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: %d\r\n\r\n%s", size, strings.Repeat("z", size))
		return err
	})
	st := startStack(t, func(c *Config) { c.Upstream = up })
	c, err := net.Dial("tcp", st.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	for i := range 2 {
		fmt.Fprintf(c, "GET /v1/users/42 HTTP/1.1\r\nHost: svc\r\nX-API-Key: %s\r\n\r\n", hrisKey)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || len(body) != size {
			t.Fatalf("response %d: status %d, %d bytes, %v; want 200 and %d bytes", i, resp.StatusCode, len(body), err, size)
		}
	}
}

// An HTTP/1.0 client cannot take chunked coding, which is how a streamed
// body of unknown length goes out to HTTP/1.1 clients: it gets the body
// streamed and delimited by the close of the connection (RFC 1945 section
// 7.2.2), not read whole first, and the upstream connection stays reusable.
func TestHTTP10ClientGetsBodyToClose(t *testing.T) {
	up := startBulkUpstream(t, 100000, true)
	st := startStack(t, func(c *Config) { c.Upstream = up })
	for i := range 2 {
		c, err := net.Dial("tcp", st.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(c, "GET /v1/users/42 HTTP/1.0\r\nHost: svc\r\nX-API-Key: %s\r\n\r\n", hrisKey)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		c.Close()
		if err != nil || resp.StatusCode != 200 || len(body) != 100000 {
			t.Fatalf("request %d: status %d, %d bytes, %v; want 200 and 100000 bytes", i, resp.StatusCode, len(body), err)
		}
		if len(resp.TransferEncoding) > 0 || resp.ContentLength != -1 || !resp.Close {
			t.Errorf("request %d: Transfer-Encoding %q, Content-Length %d, close %v; want no coding, no length, delimited by the close",
				i, resp.TransferEncoding, resp.ContentLength, resp.Close)
		}
		if rec := st.sink.last(t); rec.Decision != audit.Allowed || rec.BytesOut != 100000 {
			t.Errorf("request %d: audit %v with %d response bytes, want allowed and 100000", i, rec.Decision, rec.BytesOut)
		}
	}
	if got := st.srv.upstream.dropped.Load(); got != 0 {
		t.Errorf("%d upstream connections dropped for leftover bytes, want 0", got)
	}
}
