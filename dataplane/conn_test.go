package dataplane

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// The sidecar's own TLS (Config.TLS, --tls-cert) on a plain listener:
// its requests are served and enforced like any other. (A listener
// handing Serve connections TLS already is refused,
// TestServeRefusesCallerTLSListener.)
func TestServeTLSListener(t *testing.T) {
	ca := newAuthority(t, "server CA")
	st := startStack(t, func(c *Config) { c.TLS = tlsFiles(t, ca.issue(t, "sidecar", nil, true), nil) })
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for _, c := range []struct {
		key    string
		status int
	}{{hrisKey, 200}, {"", 401}, {hrisKey, 200}} {
		req, _ := http.NewRequest("GET", "https://"+st.addr+"/v1/users/7", nil)
		if c.key != "" {
			req.Header.Set("X-API-Key", c.key)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("over TLS with key %q: got %d, want %d", c.key, resp.StatusCode, c.status)
		}
	}
	if rec := st.sink.last(t); rec.Client != "acme-hris" || rec.SourceIP.String() != "127.0.0.1" {
		t.Errorf("audit over TLS: client %q, source %s", rec.Client, rec.SourceIP)
	}
	if got := st.up.received(); len(got) != 2 || got[1].uri != "/v1/users/7" || got[1].headers["x-portcullis-client"] != "acme-hris" {
		t.Errorf("upstream got %d requests, last %+v", len(got), got[len(got)-1])
	}
}

// Many keep-alive connections at once, each alternating callers: every
// answer and every audit record belongs to its own request, so no
// connection's exchange is ever shared (run with -race).
func TestConcurrentKeepAliveConnections(t *testing.T) {
	st := startStack(t, nil)
	sink := st.sink
	st.store.Swap(withoutLimits(t, st.store.Load()))
	const conns, each = 8, 40
	errs := make(chan error, conns)
	for c := range conns {
		go func() {
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			for i := range each {
				key, want := hrisKey, 200
				if i%3 == 1 {
					key, want = globexKey, 403 // globex-bi lacks read:users
				} else if i%3 == 2 {
					key, want = "", 401
				}
				req, _ := http.NewRequest("GET", "http://"+st.addr+"/v1/users/7", nil)
				if key != "" {
					req.Header.Set("X-API-Key", key)
				}
				id := fmt.Sprintf("c%d-r%d", c, i)
				req.Header.Set("X-Request-ID", id)
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want || resp.Header.Get("X-Request-ID") != id {
					errs <- fmt.Errorf("%s: got %d with id %q, want %d", id, resp.StatusCode, resp.Header.Get("X-Request-ID"), want)
					return
				}
			}
			errs <- nil
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.recs) != conns*each {
		t.Fatalf("%d audit records, want %d", len(sink.recs), conns*each)
	}
	for _, r := range sink.recs {
		var i int
		var c int
		if _, err := fmt.Sscanf(string(r.RequestID()), "c%d-r%d", &c, &i); err != nil {
			t.Fatalf("audit record with request id %q", r.RequestID())
		}
		want := map[int]string{0: "acme-hris", 1: "globex-bi", 2: ""}[i%3]
		if r.Client != want {
			t.Fatalf("record %s: client %q, want %q", r.RequestID(), r.Client, want)
		}
	}
}

// A connection's requests share its exchange, which goes back to the pool
// when fasthttp reports the connection closed.
func TestConnectionExchange(t *testing.T) {
	m := newInmem(t, false)
	c := m.ctx.Conn().(*conn)
	x := m.srv.beginAt(&m.ctx, 0, 0)
	m.srv.ready(&m.ctx, x)
	if y := m.srv.beginAt(&m.ctx, 0, 0); y != x || c.x != x || x.conn != c {
		t.Fatalf("second request got exchange %p, want the connection's %p", y, x)
	}
	m.srv.ready(&m.ctx, x)
	m.srv.connState(c, fasthttp.StateIdle)
	if c.x != x {
		t.Fatal("an idle connection lost its exchange")
	}
	m.srv.connState(c, fasthttp.StateClosed)
	if c.x != nil || x.conn != nil {
		t.Errorf("after close: connection holds %p, exchange owned by %p; want both released", c.x, x.conn)
	}
}

// callerListener is a listener of the caller's own, as Serve may be
// given one: its connections are not *net.TCPConn (a wrapper, as a
// PROXY protocol or metering listener makes), so the sidecar wraps them
// in its own conn without counting them (conn.go, listener).
type callerListener struct{ net.Listener }

type callerConn struct{ net.Conn }

func (l callerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return callerConn{c}, nil
}

// startCallerListener serves st on a listener of the caller's
// (callerListener) too, until the stack's Shutdown, and returns its
// address.
func startCallerListener(t *testing.T, st *stack) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go st.srv.Serve(callerListener{ln})
	return ln.Addr().String()
}

// The connections of a listener of the caller's are followed as those
// Serve accepts itself (TLS ones are refused:
// TestServeRefusesCallerTLSListener): they passed through unwrapped, so nothing followed their requests' framing. A trailer
// section ending in a bare LF waited for the read timeout (a minute
// here: the client gives up after 10 s), and an endless chunk extension
// was read, unbounded, for as long.
func TestCallerListenerFollowed(t *testing.T) {
	st, up := startRecorded(t, func(c *Config) { c.ReadTimeout, c.HeaderTimeout = time.Minute, time.Minute })
	addr := startCallerListener(t, st)
	if r := raw(t, addr, "GET /v1/status HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n"); r.status != 200 {
		t.Fatalf("a GET on the caller's listener: %d %s, want 200", r.status, r.body)
	}
	const bad = "0\r\nX-T: y\n\n"
	c, r := sendChunked(t, addr, r36post+"Transfer-Encoding: chunked\r\n", bad, false) // trailerend_test.go
	if r.status != 400 || r.errorBody(t).Error != "bad_request" {
		t.Errorf("a chunked body ending %q: %d %s, want 400 bad_request", bad, r.status, r.body)
	}
	if b, err := io.ReadAll(c); err != nil || len(b) > 0 {
		t.Errorf("after the 400 read %q, %v; want the connection closed", b, err)
	}
	extensionFlood(t, addr) // chunkbudget_test.go
	if got := up.received(); len(got) != 1 {
		t.Errorf("the service received %d requests, want the GET alone", len(got))
	}
}
