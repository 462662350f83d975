package collector

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Finding (review72): a batch whose sender stopped mid-body (the read
// timeout passed on a slow network, or the connection went) was counted
// as rejects reason "malformed", the reason of a broken or hostile
// sender, and answered 400, which the sidecar takes as a refusal and
// drops the batch for. It is now its own reason, "incomplete", answered
// 408, which the sidecar retries; a body that arrived whole and does not
// parse stays malformed. Each case sends real bytes over a socket to a
// collector with a short read timeout.
func TestIncompleteBodyNotMalformed(t *testing.T) {
	t.Parallel()
	st, err := OpenStore(t.TempDir(), StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	col, err := New(st, Config{Token: testToken, MaxBodyBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(col)
	srv.Config.ReadTimeout = 500 * time.Millisecond
	srv.Start()
	t.Cleanup(func() { srv.Close(); st.Close() })
	addr := strings.TrimPrefix(srv.URL, "http://")

	r := sampleRecord(1)
	r.Time = time.Now().UnixNano()
	batch := encodeBatch("inc-1", r)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(batch)
	zw.Close()

	cases := []struct {
		name, encoding string
		body           []byte // what is sent of it
		declared       int    // Content-Length
		stall          bool   // the sender stalls (read timeout) rather than closing
		reason         string
		status         int
	}{
		{"stalled mid-body", "", batch[:len(batch)/2], len(batch), true, "incomplete", 408},
		{"gone mid-body", "", batch[:len(batch)/2], len(batch), false, "incomplete", 408},
		{"gzip, stalled mid-body", "gzip", gz.Bytes()[:gz.Len()/2], gz.Len(), true, "incomplete", 408},
		{"gzip, stalled in its header", "gzip", gz.Bytes()[:4], gz.Len(), true, "incomplete", 408},
		{"whole and not a batch", "", []byte("not protobuf at all"), len("not protobuf at all"), false, "malformed", 400},
		{"whole gzip cut inside", "gzip", gz.Bytes()[:gz.Len()/2], gz.Len() / 2, false, "malformed", 400},
	}
	for _, tc := range cases {
		before := rejects(col)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		head := fmt.Sprintf("POST /v1/logs HTTP/1.1\r\nHost: c\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n", testToken, FormatProtobuf, tc.declared)
		if tc.encoding != "" {
			head += "Content-Encoding: " + tc.encoding + "\r\n"
		}
		c.Write(append([]byte(head+"\r\n"), tc.body...))
		if !tc.stall && len(tc.body) < tc.declared {
			c.(*net.TCPConn).CloseWrite()
		}
		status := 0
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
			status = resp.StatusCode
			resp.Body.Close()
		}
		c.Close()
		after := waitRejects(t, col, before)
		if after[tc.reason] != before[tc.reason]+1 || after["malformed"]-before["malformed"]+after["incomplete"]-before["incomplete"] != 1 {
			t.Errorf("%s: rejects went from %v to %v; want one more %s", tc.name, before, after, tc.reason)
		}
		if status != 0 && status != tc.status {
			t.Errorf("%s: answered %d, want %d", tc.name, status, tc.status)
		}
	}
}

// rejects returns the malformed and incomplete rejects counted so far.
func rejects(c *Collector) map[string]uint64 {
	return map[string]uint64{"malformed": c.rejects[rejectMalformed].Load(), "incomplete": c.rejects[rejectIncomplete].Load()}
}

// waitRejects waits for a reject counted after before, which the server
// counts once it has read what it could of the body.
func waitRejects(t *testing.T, c *Collector, before map[string]uint64) map[string]uint64 {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		now := rejects(c)
		if now["malformed"]+now["incomplete"] > before["malformed"]+before["incomplete"] {
			return now
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reject counted; %v", now)
		}
	}
}

// Finding (read77): a chunked body whose framing is broken (a chunk size
// that is no hex number) ended with net/http's parse error, which the
// collector took for a sender gone mid-body: "incomplete", answered 408
// and retried for ever, and a sender whose bodies are all malformed never
// raised PortcullisAuditBatchesMalformed. Only a timeout, a connection
// error or a body ended before its length is incomplete; a body that
// arrived and does not parse, framing included, is malformed.
func TestBrokenChunkFramingIsMalformed(t *testing.T) {
	t.Parallel()
	st, err := OpenStore(t.TempDir(), StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	col, err := New(st, Config{Token: testToken, MaxBodyBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(col)
	t.Cleanup(func() { srv.Close(); st.Close() })
	for _, body := range []string{"zz\r\nabc\r\n0\r\n\r\n", "3\r\nabcXY0\r\n\r\n", "3\nabc\n0\n\n"} {
		before := rejects(col)
		c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		fmt.Fprintf(c, "POST /v1/logs HTTP/1.1\r\nHost: c\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n%s", testToken, FormatProtobuf, body)
		status := 0
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
			status = resp.StatusCode
			resp.Body.Close()
		}
		c.Close()
		after := waitRejects(t, col, before)
		if after["malformed"] != before["malformed"]+1 || status != 400 {
			t.Errorf("chunked body %q: answered %d, rejects went from %v to %v; want 400 and one more malformed", body, status, before, after)
		}
	}
}
