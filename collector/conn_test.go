package collector

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// dialRaw opens a TCP connection to the server at url.
func dialRaw(t *testing.T, url string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reports whether the server closes c (EOF or reset)
// within a generous deadline; it does not measure how fast.
func closedByServer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err := io.Copy(io.Discard, c)
	return !isTimeout(err)
}

// A client address holds at most UnauthConnsPerClient connections that
// have not authenticated: the next is closed at once; when one goes, a new
// one is served.
func TestUnauthenticatedConnectionCap(t *testing.T) {
	t.Parallel()
	srv, st := startNamedCollector(t, t.TempDir(), newTestKey(t), Config{UnauthConnsPerClient: 2, UnauthTimeout: time.Minute})
	c1 := dialRaw(t, srv.URL)
	dialRaw(t, srv.URL)
	if !closedByServer(dialRaw(t, srv.URL)) {
		t.Fatal("third unauthenticated connection was not closed")
	}
	c1.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := dialRaw(t, srv.URL)
		body := encodeBatch("cap-1", sampleRecord(1))
		fmt.Fprintf(c, "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s", FormatProtobuf, aliceToken, len(body), body)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil && resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection served after one was closed: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // the server notices the close asynchronously
	}
	if st.Stats().Batches != 1 {
		t.Errorf("batch not stored")
	}
}

// A connection that sends no complete request is closed after
// UnauthTimeout, and one whose request does not authenticate gets 401 and
// is closed, so neither holds a slot for the 70 s of before.
func TestUnauthenticatedConnectionTimeout(t *testing.T) {
	t.Parallel()
	srv, _ := startNamedCollector(t, t.TempDir(), newTestKey(t), Config{UnauthTimeout: 200 * time.Millisecond})
	slow := dialRaw(t, srv.URL)
	io.WriteString(slow, "POST /v1/logs HTTP/1.1\r\nHost: x\r\n")
	if !closedByServer(slow) {
		t.Error("a connection stalling in its headers was not closed")
	}
	bad := dialRaw(t, srv.URL)
	fmt.Fprintf(bad, "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nAuthorization: Bearer wrong\r\nContent-Length: 0\r\n\r\n", FormatProtobuf)
	br := bufio.NewReader(bad)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 401 {
		t.Fatalf("wrong token: %v %v, want 401", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	bad.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := br.ReadByte(); err == nil || isTimeout(err) {
		t.Errorf("connection after 401 still open: %v", err)
	}
	probe := dialRaw(t, srv.URL)
	io.WriteString(probe, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	pr := bufio.NewReader(probe)
	if resp, err := http.ReadResponse(pr, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	probe.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := pr.ReadByte(); err == nil || isTimeout(err) {
		t.Errorf("unauthenticated connection left open after /healthz: %v", err)
	}
	col, _ := New(nil, Config{Token: aliceToken})
	if hs := col.HTTPServer(); hs.ReadHeaderTimeout <= 0 || hs.ReadHeaderTimeout >= 70*time.Second {
		t.Errorf("default header timeout %s, want under 70s", hs.ReadHeaderTimeout)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// The method of /v1/logs is checked after the sender: an authenticated
// GET is answered 405 and its connection stays open for the next batch.
func TestAuthenticatedWrongMethodKeepsConnection(t *testing.T) {
	t.Parallel()
	srv, st := startNamedCollector(t, t.TempDir(), newTestKey(t), Config{UnauthTimeout: time.Minute})
	c := dialRaw(t, srv.URL)
	br := bufio.NewReader(c)
	fmt.Fprintf(c, "GET /v1/logs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", aliceToken)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Close {
		t.Fatalf("authenticated GET /v1/logs: status %d, close %v; want 405 and the connection kept", resp.StatusCode, resp.Close)
	}
	body := encodeBatch("method-1", sampleRecord(1))
	fmt.Fprintf(c, "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s", FormatProtobuf, aliceToken, len(body), body)
	if resp, err = http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("batch on the same connection: %v %v, want 200", resp, err)
	}
	if st.Stats().Batches != 1 {
		t.Errorf("batch not stored")
	}
}

// The intake listener serves /metrics only to a sender: without a
// credential the scrape gets the 401 that closes its connection, and
// MetricsHandler (for a listener of its own) serves it to anyone.
func TestMetricsNeedASenderOnIntake(t *testing.T) {
	t.Parallel()
	srv, _ := startNamedCollector(t, t.TempDir(), newTestKey(t), Config{UnauthTimeout: time.Minute})
	c := dialRaw(t, srv.URL)
	io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUnauthorized || strings.Contains(string(page), "portcullis_collector_") {
		t.Errorf("unauthenticated scrape of the intake listener: status %d, body %q; want 401 without metrics", resp.StatusCode, page)
	}
	if !closedByServer(c) {
		t.Error("unauthenticated scrape: the connection stays open after the answer")
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	if code, page := scrape(t, req); code != http.StatusOK || !strings.Contains(page, "portcullis_collector_rejects_total") {
		t.Errorf("scrape with a sender token: status %d, body %q; want 200 with metrics", code, page)
	}

	st, err := OpenStore(t.TempDir(), StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	col, err := New(st, Config{Token: aliceToken})
	if err != nil {
		t.Fatal(err)
	}
	mon := httptest.NewServer(col.MetricsHandler())
	defer mon.Close()
	req, _ = http.NewRequest(http.MethodGet, mon.URL+"/metrics", nil)
	if code, page := scrape(t, req); code != http.StatusOK || !strings.Contains(page, "portcullis_collector_batches_total 0") {
		t.Errorf("scrape of MetricsHandler without a credential: status %d, body %q; want 200 with metrics", code, page)
	}
	req, _ = http.NewRequest(http.MethodPost, mon.URL+"/v1/logs", nil)
	if code, _ := scrape(t, req); code != http.StatusNotFound {
		t.Errorf("POST /v1/logs to MetricsHandler: status %d, want 404 (no intake there)", code)
	}
}

// scrape sends req and returns the status and body.
func scrape(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The unauthenticated connections of a client address were counted per
// IPv6 address, while the sidecar counts an IPv6 peer by its /64: one host
// with a /64 (2^64 addresses) held as many as it liked. They now count by
// the sidecar's rule (limiter.PeerKey). Loopback has no other IPv6 source
// address than ::1 without changing the host's routes, so this calls the
// admission with the addresses a /64 holds; the sockets' path to it is
// TestUnauthenticatedConnectionCap's.
func TestUnauthenticatedCapCountsIPv6By64(t *testing.T) {
	var l connLimiter
	l.init(2, DefaultMaxConns, 0)
	for i, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:abcd::9"} {
		_, ok := l.admitLocked(netip.MustParseAddr(a))
		if want := i < 2; ok != want {
			t.Errorf("connection %d from %s admitted %v, want %v (a cap of 2 for the /64)", i+1, a, ok, want)
		}
	}
	if _, ok := l.admitLocked(netip.MustParseAddr("2001:db8:1:3::1")); !ok {
		t.Error("a connection from another /64 was refused")
	}
	if l.refused.Load() != 1 {
		t.Errorf("refused %d, want 1", l.refused.Load())
	}
}

// The intake had no overall cap on its connections: authenticated ones,
// and unauthenticated ones from many addresses, took descriptors without
// end. MaxConns (--max-conns) caps them: the connection past it closes
// the oldest that has not authenticated, or is itself closed as it
// arrives when every one has, counted either way; the collector goes on
// serving the others, and a new one is served once one closes.
func TestConnectionCap(t *testing.T) {
	t.Parallel()
	srv, st := startNamedCollector(t, t.TempDir(), newTestKey(t), Config{MaxConns: 2, UnauthTimeout: time.Minute})
	post := func(c net.Conn, br *bufio.Reader, id string, token string) (*http.Response, error) {
		body := encodeBatch(id, sampleRecord(1))
		fmt.Fprintf(c, "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s", FormatProtobuf, token, len(body), body)
		resp, err := http.ReadResponse(br, nil)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	authed := dialRaw(t, srv.URL)
	ar := bufio.NewReader(authed)
	if resp, err := post(authed, ar, "capped-1", aliceToken); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first batch: %v %v", resp, err)
	}
	idle := dialRaw(t, srv.URL)
	// The third takes the place of the oldest that has not authenticated
	// (TestOutsidersCannotTakeEveryConnection).
	third := dialRaw(t, srv.URL)
	if !closedByServer(idle) {
		t.Fatal("a third connection with MaxConns 2 did not close the idle unauthenticated one")
	}
	fmt.Fprintf(authed, "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", aliceToken)
	resp, err := http.ReadResponse(ar, nil)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"portcullis_collector_connections_capped_total 1\n", "portcullis_collector_connections_open 2\n", "portcullis_collector_connections_refused_total 0\n"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, page)
		}
	}
	third.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := dialRaw(t, srv.URL)
		// Another sender: alice holds her share, one of 2, already.
		resp, err := post(c, bufio.NewReader(c), "capped-2", bobToken)
		if err == nil && resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection served after one was closed: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // the server notices the close asynchronously
	}
	if st.Stats().Batches != 2 {
		t.Errorf("stored %d batches, want 2", st.Stats().Batches)
	}
}
