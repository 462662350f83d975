package collector

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startHTTPCollector serves a collector with HTTPServer's connection rules
// on a loopback socket.
func startHTTPCollector(t *testing.T) (addr, dir string) {
	t.Helper()
	dir = t.TempDir()
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	col, err := New(st, Config{Token: testToken, MaxBodyBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	srv := col.HTTPServer()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); st.Close() })
	return ln.Addr().String(), dir
}

// TestGzipBombRefused: a few hundred KB of gzip that inflate to 256 MiB
// are refused 413 within MaxBodyBytes, nothing stored, and the collector
// keeps taking batches.
func TestGzipBombRefused(t *testing.T) {
	addr, dir := startHTTPCollector(t)
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for range 256 {
		zw.Write(zeros)
	}
	zw.Close()
	post := func(body []byte, enc string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/logs", bytes.NewReader(body))
		req.Header.Set("Content-Type", FormatProtobuf)
		req.Header.Set("Authorization", "Bearer "+testToken)
		if enc != "" {
			req.Header.Set("Content-Encoding", enc)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(gz.Bytes(), "gzip"); code != http.StatusRequestEntityTooLarge {
		t.Errorf("%d bytes of gzip inflating to 256 MiB: status %d, want 413", gz.Len(), code)
	}
	if n := len(storedRecords(t, dir)); n != 0 {
		t.Errorf("%d records stored from a refused bomb", n)
	}
	if code := post(encodeBatch("inst-1", sampleRecord(0)), ""); code != 200 {
		t.Errorf("a batch after the bomb: status %d, want 200", code)
	}
}

// TestShortContentLengthSmugglesNoUnauthenticatedBatch: bytes written
// past a batch's Content-Length on an authenticated connection are read
// as the connection's next request, which carries no credential of its
// own: it is answered 401 and nothing of it stored, the connection's
// earlier credential lending it none.
func TestShortContentLengthSmugglesNoUnauthenticatedBatch(t *testing.T) {
	addr, dir := startHTTPCollector(t)
	first := encodeBatch("inst-1", sampleRecord(0))
	second := encodeBatch("inst-2", sampleRecord(1))
	smuggled := fmt.Sprintf("POST /v1/logs HTTP/1.1\r\nHost: c\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s", FormatProtobuf, len(second), second)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /v1/logs HTTP/1.1\r\nHost: c\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s%s",
		testToken, FormatProtobuf, len(first), first, smuggled)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	var codes []int
	for range 2 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	if len(codes) != 2 || codes[0] != 200 || codes[1] != http.StatusUnauthorized {
		t.Errorf("answers %v, want [200 401]", codes)
	}
	if n := len(storedRecords(t, dir)); n != 1 {
		t.Errorf("%d records stored, want 1 (the authenticated batch only)", n)
	}
}

// TestOutsidersCannotTakeEveryConnection: connections that never send a
// credential, 8 from each of a few addresses (an outsider with 512 IPv4
// addresses, or one IPv6 /55, fills the default 4096), held every one of
// MaxConns, and a sender's new connection was closed at accept: its
// batches waited in its spool for as long as the outsider kept
// reconnecting, each connection living UnauthTimeout. At the cap the
// oldest unauthenticated connection is closed to make room instead.
func TestOutsidersCannotTakeEveryConnection(t *testing.T) {
	t.Parallel()
	srv, st := startNamedCollector(t, t.TempDir(), newTestKey(t), Config{MaxConns: 16, UnauthTimeout: time.Minute})
	addr := strings.TrimPrefix(srv.URL, "http://")
	var outsiders []net.Conn
	for a := range 2 {
		for range 8 {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(a+2))}}
			c, err := d.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			outsiders = append(outsiders, c)
		}
	}
	// The listener accepts in order: the sender's connection is admitted
	// after the outsiders' 16.
	c := dialRaw(t, srv.URL)
	body := encodeBatch("outsiders-1", sampleRecord(1))
	fmt.Fprintf(c, "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s", FormatProtobuf, aliceToken, len(body), body)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("a sender's connection with %d outsiders' connections open (MaxConns 16): %v; want its batch taken", len(outsiders), err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || st.Stats().Batches != 1 {
		t.Errorf("status %d, %d batches stored; want 200, 1", resp.StatusCode, st.Stats().Batches)
	}
	if !closedByServer(outsiders[0]) {
		t.Error("the oldest outsider's connection was left open")
	}
}
