package collector

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// rawPost writes one HTTP/1.1 request with the given head lines and body
// bytes on conn and reads the answer (nil when the connection closed).
func rawPost(t *testing.T, conn net.Conn, br *bufio.Reader, host, token string, extra string, body []byte) (*http.Response, []byte) {
	t.Helper()
	head := fmt.Sprintf("POST /v1/logs HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nAuthorization: Bearer %s\r\n%s\r\n", host, FormatProtobuf, token, extra)
	if _, err := conn.Write(append([]byte(head), body...)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, nil
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b
}

// A batch whose protobuf lengths run past its
// own end, sent right after a longer batch with the same layout on the
// same connection (one P: the pooled body buffer still holds the longer
// batch's bytes past the new body's length), is refused with the JSON
// error, and nothing of it is stored.
func TestPooledBodyStaleBytesRefused(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	dir, key := t.TempDir(), newTestKey(t)
	srv, st := startNamedCollector(t, dir, key, Config{})
	host := strings.TrimPrefix(srv.URL, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	recs := benchRecords(300)
	a := encodeBatch("stale-a", recs...)
	for i := range 5 {
		b := encodeBatch(fmt.Sprintf("stale-%d", i), recs...)
		resp, _ := rawPost(t, conn, br, host, aliceToken, fmt.Sprintf("Content-Length: %d\r\n", len(a)), a)
		if resp == nil || resp.StatusCode != 200 {
			t.Fatalf("valid batch: %v", resp)
		}
		a = encodeBatch(fmt.Sprintf("stale-a%d", i), recs...) // next valid one, new id
		cut := b[:len(b)-100-i*7]
		resp, msg := rawPost(t, conn, br, host, bobToken, fmt.Sprintf("Content-Length: %d\r\n", len(cut)), cut)
		if resp == nil {
			t.Fatal("connection closed on a truncated batch")
		}
		var shape struct {
			Error     string `json:"error"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		}
		if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(msg, &shape) != nil || shape.Error != "malformed_batch" {
			t.Fatalf("truncated batch %d: status %d, body %s", i, resp.StatusCode, msg)
		}
	}
	for _, r := range storedRecords(t, dir) {
		if r.Sender != "token:alice" {
			t.Fatalf("record stored for %q", r.Sender)
		}
	}
	srv.Close()
	st.Close()
	checkReadable(t, dir, key, 5*300)
}

// A sender that dies mid-body (Content-Length
// and chunked) gets nothing stored; the store stays whole.
func TestDeadSenderMidBodyStoresNothing(t *testing.T) {
	dir, key := t.TempDir(), newTestKey(t)
	srv, st := startNamedCollector(t, dir, key, Config{})
	host := strings.TrimPrefix(srv.URL, "http://")
	body := encodeBatch("dead-1", benchRecords(200)...)
	for _, chunked := range []bool{false, true} {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		var head string
		var payload []byte
		if chunked {
			head = "Transfer-Encoding: chunked\r\n"
			// Whole records' worth of chunks, then the connection ends
			// without the last chunk.
			payload = fmt.Appendf(nil, "%x\r\n%s\r\n", len(body)/2, body[:len(body)/2])
		} else {
			head = fmt.Sprintf("Content-Length: %d\r\n", len(body))
			payload = body[:len(body)/2]
		}
		fmt.Fprintf(conn, "POST /v1/logs HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nAuthorization: Bearer %s\r\n%s\r\n", host, FormatProtobuf, aliceToken, head)
		conn.Write(payload)
		conn.(*net.TCPConn).CloseWrite()
		io.ReadAll(conn)
		conn.Close()
	}
	time.Sleep(100 * time.Millisecond)
	if code := post(t, srv.URL, aliceToken, encodeBatch("after", sampleRecord(1)), false); code != 200 {
		t.Fatalf("status %d", code)
	}
	srv.Close()
	st.Close()
	checkReadable(t, dir, key, 1)
	_ = url.URL{}
	_ = audit.MaxPath
}
