package dataplane

import (
	"bufio"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/rs/zerolog"
)

// fasthttp recovers no panic of a callback it calls (but a body stream's
// Read), and crypto/tls none of the handshake's: a panic that leaves one
// ends the whole sidecar. These tests inject one, with a sink or a log
// writer that panics once armed, in each callback outside the handler's
// recover (finish), and check the sidecar answers what it can and serves
// on.

// panicSwapSink is memSink whose Swap panics once after armed: an audit
// sink that broke.
type panicSwapSink struct {
	memSink
	armed atomic.Bool
}

func (p *panicSwapSink) Swap(r *audit.Record) (*audit.Record, bool) {
	if p.armed.CompareAndSwap(true, false) {
		panic("swap exploded")
	}
	return p.memSink.Swap(r)
}

// swapPanicAt is how a log line names the place of panicSwapSink's panic:
// its value is not logged (logPanic).
const swapPanicAt = `"panic_at":"github.com/portcullis/portcullis/dataplane.(*panicSwapSink).Swap `

// panicWriter is syncBuffer whose Write panics once after armed: a log
// destination that broke.
type panicWriter struct {
	syncBuffer
	armed atomic.Bool
}

func (p *panicWriter) Write(b []byte) (int, error) {
	if p.armed.CompareAndSwap(true, false) {
		panic("log write exploded")
	}
	return p.syncBuffer.Write(b)
}

// TestTLSRefusalAuditPanicKeepsServing: the audit record of a handshake a
// client CRL refused is written from the handshake (tlsConn.Handshake),
// which fasthttp runs outside any recover: a sink whose Swap panicked
// there took the whole sidecar down. The handshake stays refused, the
// panic is counted and logged, and the sidecar serves on.
func TestTLSRefusalAuditPanicKeepsServing(t *testing.T) {
	sink := &panicSwapSink{}
	logs := &syncBuffer{}
	crlRefusalPanics(t, &sink.armed, func(cfg *Config) {
		cfg.Audit = sink
		cfg.Logger = zerolog.New(logs)
	})
	if n := strings.Count(logs.String(), swapPanicAt); n != 1 {
		t.Errorf("the panic logged %d times, want once:\n%s", n, logs.String())
	}
}

// TestTLSVerifyPanicKeepsServing: crypto/tls calls VerifyConnection (the
// CRL check, which logs a refusal) inside the handshake and recovers
// nothing: a log writer that panicked there took the whole sidecar down.
// The handshake fails, the panic is counted, and the sidecar serves on.
func TestTLSVerifyPanicKeepsServing(t *testing.T) {
	logs := &panicWriter{}
	crlRefusalPanics(t, &logs.armed, func(cfg *Config) { cfg.Logger = zerolog.New(logs) })
}

// crlRefusalPanics serves mTLS with a CRL listing the admin's
// certificate, configured further by with, arms the panic (armed), and
// checks that the admin's handshake is refused, the panic counted once,
// and another client served after it.
func crlRefusalPanics(t *testing.T, armed *atomic.Bool, with func(*Config)) {
	t.Helper()
	c := newCRLCase(t)
	st := startStack(t, func(cfg *Config) {
		cfg.TLS = withCRL(t, c.files, c.clientCA.crl(t, time.Now().Add(-time.Minute), time.Now().Add(time.Hour), c.admin.serial))
		cfg.TLS.Reload = time.Hour
		with(cfg)
	})
	swapDoc(t, st.store, mtlsPolicy)
	armed.Store(true)
	if status, err := served(t, st.addr, c.roots, &c.admin, "PUT", "/v1/admin/settings"); err == nil {
		t.Fatalf("revoked certificate: status %d, want the handshake refused", status)
	}
	pollUntil(t, "the panic recovered", func() (bool, string) {
		n := st.srv.metrics.panics.Load()
		return n == 1 && !armed.Load(), fmt.Sprint("panics counted: ", n)
	})
	if status, err := served(t, st.addr, c.roots, &c.hris, "GET", "/v1/users/7"); err != nil || status != 200 {
		t.Fatalf("next request: %d %v, want 200", status, err)
	}
}

// summaryPanicSink is memSink whose Swap panics on the first summary
// record of refusals left out (Count set) after armed.
type summaryPanicSink struct {
	memSink
	armed atomic.Bool
}

func (p *summaryPanicSink) Swap(r *audit.Record) (*audit.Record, bool) {
	if r.Count != 0 && p.armed.CompareAndSwap(true, false) {
		panic("summary swap exploded")
	}
	return p.memSink.Swap(r)
}

// TestTLSRefusalFlushPanicKeepsServing: the summary of the handshake
// refusals left out of the audit trail is written on the reload tick's
// goroutine, outside any recover: a sink whose Swap panicked there took
// the whole sidecar down. The panic is counted and the sidecar serves on.
func TestTLSRefusalFlushPanicKeepsServing(t *testing.T) {
	c := newCRLCase(t)
	sink := &summaryPanicSink{}
	st := startStack(t, func(cfg *Config) {
		cfg.TLS = withCRL(t, c.files, c.clientCA.crl(t, time.Now().Add(-time.Minute), time.Now().Add(time.Hour), c.admin.serial))
		cfg.TLS.Reload = 200 * time.Millisecond
		cfg.Audit = sink
		cfg.Logger = zerolog.New(&syncBuffer{})
	})
	swapDoc(t, st.store, mtlsPolicy)
	sink.armed.Store(true)
	for i := 0; st.srv.certs.refusals.suppressed.Load() == 0; i++ {
		if i == 1000 {
			t.Fatal("no refusal left out of 1000")
		}
		if _, err := served(t, st.addr, c.roots, &c.admin, "GET", "/v1/users/7"); err == nil {
			t.Fatal("revoked certificate served")
		}
	}
	pollUntil(t, "the summary's panic recovered", func() (bool, string) {
		n := st.srv.metrics.panics.Load()
		return n == 1 && !sink.armed.Load(), fmt.Sprint("panics counted: ", n)
	})
	if status, err := served(t, st.addr, c.roots, &c.hris, "GET", "/v1/users/7"); err != nil || status != 200 {
		t.Fatalf("next request: %d %v, want 200", status, err)
	}
}

// TestErrorHandlerRecordPanicKeepsItsAnswer: errorHandler answers a
// request fasthttp could not read (here 431, headers past the limit) and
// then records it; a sink whose Swap panicked there turned the 431, already
// decided and in the response, into a 500. The 431 stands, the panic is
// counted and logged once, with no credential of the request in the log,
// and the sidecar serves on.
func TestErrorHandlerRecordPanicKeepsItsAnswer(t *testing.T) {
	sink := &panicSwapSink{}
	logs := &syncBuffer{}
	st := startStack(t, func(c *Config) {
		c.Audit = sink
		c.MaxHeaderBytes = 4096
		c.Logger = zerolog.New(logs)
	})
	sink.armed.Store(true)
	huge := "GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-Request-ID: err-panic\r\nX-API-Key: " + hrisKey + "\r\nX-Big: " + strings.Repeat("a", 8000) + "\r\n\r\n"
	r := raw(t, st.addr, huge)
	if sink.armed.Load() {
		t.Fatal("the record never reached the sink")
	}
	if r.status != 431 || r.errorBody(t).Error != "header_too_large" {
		t.Fatalf("answer %d %s, want 431 header_too_large", r.status, r.body)
	}
	if n := st.srv.metrics.panics.Load(); n != 1 {
		t.Errorf("panics counted %d, want 1", n)
	}
	l := logs.String()
	if n := strings.Count(l, swapPanicAt); n != 1 {
		t.Errorf("the panic logged %d times, want once:\n%s", n, l)
	}
	if strings.Contains(l, hrisKey) || strings.Contains(l, hrisKey[len(hrisKey)-12:]) {
		t.Errorf("the log holds the request's key:\n%s", l)
	}
	if r := do(t, st.addr, "GET", "/v1/users/7", map[string]string{"X-API-Key": hrisKey}, ""); r.status != 200 {
		t.Fatalf("next request: %d %s, want 200", r.status, r.body)
	}
}

// TestHTTP10StreamPanicKeepsServing: a streamed body of unknown length
// for an HTTP/1.0 client is written by the hijack handler (writeToClose),
// which fasthttp runs on a goroutine of its own with no recover; each
// piece is judged again there (stillAllowed, reading Config.KeyClock for
// an API key's age). A key clock that panicked mid-stream took the whole
// sidecar down. The stream is cut, recorded internal_error, the panic
// counted, and the sidecar serves on.
func TestHTTP10StreamPanicKeepsServing(t *testing.T) {
	keyClockPanicMidStream(t, "HTTP/1.0", "stream10-panic")
}

// keyClockPanicMidStream streams a 32 MiB body to a client of proto
// (HTTP/1.0 or HTTP/1.1) under request id id, panics the key clock on the
// next piece's judgement, and checks the stream was cut, recorded
// internal_error, the panic counted, and the next request served.
func keyClockPanicMidStream(t *testing.T, proto, id string) {
	t.Helper()
	up := startBulkUpstream(t, 32<<20, true)
	var armed atomic.Bool
	st := startStack(t, func(c *Config) {
		c.Upstream = up
		c.KeyClock = func() time.Time {
			if armed.CompareAndSwap(true, false) {
				panic("key clock exploded")
			}
			return time.Now()
		}
		c.Logger = zerolog.New(&syncBuffer{})
	})
	c, err := net.Dial("tcp", st.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "GET /v1/users/42 %s\r\nHost: svc\r\nX-Request-ID: %s\r\nX-API-Key: %s\r\n\r\n", proto, id, hrisKey)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	armed.Store(true) // the next piece's judgement panics
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if armed.Load() {
		t.Fatal("the stream never read the key clock")
	}
	if n >= 32<<20 {
		t.Errorf("the client got the whole body, %d bytes, want it cut", n)
	}
	if rec := st.sink.withRequestID(t, id); rec.Decision != audit.InternalError {
		t.Errorf("recorded %v (client cut %v), want internal_error", rec.Decision, rec.ClientCut)
	}
	if got := st.srv.metrics.panics.Load(); got != 1 {
		t.Errorf("panics counted %d, want 1", got)
	}
	if r := do(t, st.addr, "GET", "/v1/status", nil, ""); r.status != 200 {
		t.Fatalf("next request: %d %s, want 200", r.status, r.body)
	}
}

// TestStreamRecordPanicKeepsServing: a streamed response is recorded
// when fasthttp closes its body stream, after the handler returned
// (responseBody.Close, settle): a sink whose Swap panicked there is
// recovered by settle, the panic counted, and the sidecar serves on,
// over the same kept-alive connection too.
func TestStreamRecordPanicKeepsServing(t *testing.T) {
	up := startBulkUpstream(t, 1<<20, true)
	sink := &panicSwapSink{}
	st := startStack(t, func(c *Config) {
		c.Upstream = up
		c.Audit = sink
		c.Logger = zerolog.New(&syncBuffer{})
	})
	c, err := net.Dial("tcp", st.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	sink.armed.Store(true)
	for i := range 2 {
		fmt.Fprintf(c, "GET /v1/users/42 HTTP/1.1\r\nHost: svc\r\nX-API-Key: %s\r\n\r\n", hrisKey)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || n != 1<<20 {
			t.Fatalf("response %d: %d, %d bytes, %v; want 200 and the whole body", i, resp.StatusCode, n, err)
		}
		if i == 0 && resp.Close {
			break
		}
	}
	pollUntil(t, "the panic counted", func() (bool, string) {
		n := st.srv.metrics.panics.Load()
		return n == 1 && !sink.armed.Load(), fmt.Sprint("panics counted: ", n)
	})
	if r := do(t, st.addr, "GET", "/v1/status", nil, ""); r.status != 200 {
		t.Fatalf("next request: %d %s, want 200", r.status, r.body)
	}
}

// TestAcceptLogPanicKeepsServing: the listener logs a connection it
// refuses past a cap from Accept, which fasthttp's Serve calls outside
// any recover: a log writer that panicked there took the whole sidecar
// down. The connection is refused all the same, the panic counted, and
// the sidecar serves on.
func TestAcceptLogPanicKeepsServing(t *testing.T) {
	logs := &panicWriter{}
	st := startStack(t, func(c *Config) {
		c.MaxConnsPerIP = 1
		c.Logger = zerolog.New(logs)
	})
	held := dialFrom(t, "127.0.0.1", st.addr)
	if got := getOn(t, held); got != 200 {
		t.Fatalf("connection within the cap: status %d, want 200", got)
	}
	logs.armed.Store(true)
	if !closedByServer(dialFrom(t, "127.0.0.1", st.addr)) {
		t.Fatal("a 2nd connection from 127.0.0.1 stayed open, want it closed (per-IP cap 1)")
	}
	pollUntil(t, "the panic counted", func() (bool, string) {
		n := st.srv.metrics.panics.Load()
		return n == 1 && !logs.armed.Load(), fmt.Sprint("panics counted: ", n)
	})
	if got := getOn(t, held); got != 200 {
		t.Fatalf("held connection after the panic: status %d, want 200", got)
	}
	if got := getOn(t, dialFrom(t, "127.0.0.2", st.addr)); got != 200 {
		t.Fatalf("new connection after the panic: status %d, want 200", got)
	}
}

// TestTLSReloadLogPanicKeepsServing: a kept-alive TLS connection's
// request looks at the client CA file (begin, certReloader.fresh) before
// the handler's recover is in place, and a change there is loaded and
// logged: a log writer that panicked there took the whole sidecar down.
// The reload's panic is counted, the request answered, and the sidecar
// serves on.
func TestTLSReloadLogPanicKeepsServing(t *testing.T) {
	serverCA := newAuthority(t, "server CA")
	oldCA, newCA := newAuthority(t, "old client CA"), newAuthority(t, "new client CA")
	files := tlsFiles(t, serverCA.issue(t, "sidecar", nil, true), oldCA)
	files.Reload = time.Hour
	writeFile(t, files.ClientCAFile, append(append([]byte(nil), oldCA.pem...), newCA.pem...))
	logs := &panicWriter{}
	st := startStack(t, func(c *Config) {
		c.TLS = files
		c.Logger = zerolog.New(logs)
	})
	swapDoc(t, st.store, mtlsPolicy)
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.cert)
	fromOld := oldCA.issue(t, "admin", []string{adminSPIFFE}, false)
	conn, err := dialTLS(st.addr, roots, &fromOld.tls)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.c.Close()
	if r, err := conn.send("PUT", "/v1/admin/settings", nil); err != nil || r.status != 200 {
		t.Fatalf("before the change = %d %v, want 200", r.status, err)
	}
	logs.armed.Store(true)
	writeFile(t, files.ClientCAFile, newCA.pem)
	pollUntil(t, "the reload's panic counted", func() (bool, string) {
		r, err := conn.send("PUT", "/v1/admin/settings", nil)
		if err != nil {
			t.Fatal(err)
		}
		return !logs.armed.Load() && st.srv.metrics.panics.Load() == 1, fmt.Sprintf("status %d", r.status)
	})
	fromNew := newCA.issue(t, "admin", []string{adminSPIFFE}, false)
	if r, err := tlsCall(t, st.addr, roots, &fromNew.tls, "GET", "/v1/status", nil); err != nil || r.status != 200 {
		t.Fatalf("next connection = %d %v, want 200", r.status, err)
	}
}

// TestStreamReadPanicRecorded: a streamed body for an HTTP/1.1 client is
// read by fasthttp after the handler returned, under fasthttp's own
// recover (Response.writeBodyStream), which closes the connection; each
// piece is judged again there (stillAllowed, reading Config.KeyClock). The
// panic is counted, the exchange recorded internal_error (not allowed, as
// if the client had cut it), and the sidecar serves on.
func TestStreamReadPanicRecorded(t *testing.T) {
	keyClockPanicMidStream(t, "HTTP/1.1", "stream11-panic")
}

// TestConnStateRecordPanicKeepsServing: a response stream fasthttp gave
// up on unwritten is closed when it reports the connection closed
// (connState), which records the exchange outside the handler: a sink
// whose Swap panicked there is recovered by settle (settled), the slot
// comes back, the panic is counted, and the sidecar serves on. A guard:
// it passed before (connState reaches only settle's recover).
func TestConnStateRecordPanicKeepsServing(t *testing.T) {
	arrived, release := make(chan struct{}, 4), make(chan struct{})
	up := startStreamUpstream(t, func(c net.Conn) error {
		arrived <- struct{}{}
		<-release
		_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		c.Read(make([]byte, 1))
		return err
	})
	sink := &panicSwapSink{}
	st := startStack(t, func(c *Config) {
		c.Upstream = up
		c.Audit = sink
		c.Logger = zerolog.New(&syncBuffer{})
	})
	c, err := net.Dial("tcp", st.addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET /nope HTTP/1.1\r\nHost: svc\r\n\r\n"+
		"POST /v1/exports HTTP/1.0\r\nHost: svc\r\nX-API-Key: %s\r\nContent-Length: 0\r\n\r\n", adminKey)
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the export never reached the upstream")
	}
	sink.armed.Store(true) // the export's record, written when connState closes its stream
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
	close(release)
	pollUntil(t, "the record's panic counted", func() (bool, string) {
		n := st.srv.metrics.panics.Load()
		return n == 1 && !sink.armed.Load(), fmt.Sprint("panics counted: ", n)
	})
	// The sidecar answers the next itself: this upstream holds a body open.
	if r := do(t, st.addr, "GET", "/nope", nil, ""); r.status != 404 {
		t.Fatalf("next request: %d %s, want 404", r.status, r.body)
	}
}
