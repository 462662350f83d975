package dataplane

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// A panic's value is whatever the code that panicked put in it: a
// broken sink quoting the credential it was handed, an error wrapping a
// header line. These tests make the sink panic with a secret in the
// value, and check that the log line names the panic by its type and
// place only (logPanic), and that a log writer that panics on every
// write does not turn the recovery into a second, fatal panic.

// panicSecret is what the panicking sink puts in its panic's value.
const panicSecret = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"

// secretPanicSink is memSink whose Swap and Accepting panic once each
// after armed, with a value holding panicSecret.
type secretPanicSink struct {
	memSink
	swapArmed, acceptArmed atomic.Bool
}

func (p *secretPanicSink) Swap(r *audit.Record) (*audit.Record, bool) {
	if p.swapArmed.CompareAndSwap(true, false) {
		panic(fmt.Errorf("sink rejected record for token %s", panicSecret))
	}
	return p.memSink.Swap(r)
}

func (p *secretPanicSink) Accepting() bool {
	if p.acceptArmed.CompareAndSwap(true, false) {
		panic("accepting failed for " + panicSecret)
	}
	return true
}

// alwaysPanicWriter is a log destination that panics on every write once
// armed (the sidecar logs as it starts).
type alwaysPanicWriter struct {
	syncBuffer
	armed  atomic.Bool
	writes atomic.Int64
}

func (w *alwaysPanicWriter) Write(b []byte) (int, error) {
	if !w.armed.Load() {
		return w.syncBuffer.Write(b)
	}
	w.writes.Add(1)
	panic("log write exploded")
}

// secretPanics runs the two panics of a secretPanicSink over a socket on
// a sidecar configured by logTo, after arm: the handler's (settle, a 500) and the check's
// before the body under expect (a 413), each followed by a request
// served.
func secretPanics(t *testing.T, logTo func(*Config), arm func()) *stack {
	t.Helper()
	sink := &secretPanicSink{}
	st := startStack(t, func(c *Config) {
		c.Audit = sink
		logTo(c)
	})
	swapDoc(t, st.store, func(d *policy.Document) { d.Audit.Mode = "strict" })
	arm()
	sink.swapArmed.Store(true)
	if r := do(t, st.addr, "GET", "/v1/users/7", key(hrisKey), ""); r.status != 500 {
		t.Fatalf("sink panicked: answer %d %q, want 500", r.status, r.body)
	}
	if r := do(t, st.addr, "GET", "/v1/users/7", key(hrisKey), ""); r.status != 200 {
		t.Fatalf("after the handler's panic: answer %d %q, want 200", r.status, r.body)
	}
	sink.acceptArmed.Store(true)
	const head = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n"
	if r := firstAnswer(t, st.addr, head, "0123456789"); r.status != 413 {
		t.Fatalf("check panicked: answer %d %q, want 413", r.status, r.body)
	}
	if sink.acceptArmed.Load() || sink.swapArmed.Load() {
		t.Fatal("a panic was never raised")
	}
	if r := do(t, st.addr, "GET", "/v1/users/7", key(hrisKey), ""); r.status != 200 {
		t.Fatalf("after the check's panic: answer %d %q, want 200", r.status, r.body)
	}
	if n := st.srv.metrics.panics.Load(); n != 2 {
		t.Errorf("panics counted %d, want 2", n)
	}
	return st
}

// TestPanicLogHoldsNoValue: the log lines of a recovered panic name its
// type and the function, file and line that raised it, and hold nothing
// of its value, a secret here.
func TestPanicLogHoldsNoValue(t *testing.T) {
	logs := &syncBuffer{}
	secretPanics(t, func(c *Config) { c.Logger = zerolog.New(logs) }, func() {})
	out := logs.String()
	if strings.Contains(out, panicSecret) || strings.Contains(out, "sk_live_") {
		t.Fatalf("a log line holds the panic's secret:\n%s", out)
	}
	for _, want := range []string{
		`"panic_type":"*errors.errorString"`,
		`"panic_at":"github.com/portcullis/portcullis/dataplane.(*secretPanicSink).Swap panic_log_test.go:`,
		`"panic_type":"string"`,
		`"panic_at":"github.com/portcullis/portcullis/dataplane.(*secretPanicSink).Accepting panic_log_test.go:`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no log line with %s:\n%s", want, out)
		}
	}
}

// TestPanicLogWriterPanicKeepsServing: with a log writer that panics on
// every write, logging a recovered panic panicked inside the recovery,
// which ended the process. Each panic is answered, counted, and the
// sidecar serves on.
func TestPanicLogWriterPanicKeepsServing(t *testing.T) {
	w := &alwaysPanicWriter{}
	secretPanics(t, func(c *Config) { c.Logger = zerolog.New(w) }, func() { w.armed.Store(true) })
	if w.writes.Load() == 0 {
		t.Fatal("nothing was logged: the writer's panic was never raised")
	}
}

// TestFasthttpLogPanicKeepsServing: fasthttp logs a connection that
// ended in an error (a request it could not parse) from its worker,
// outside any recover: a log writer that panicked there ended the
// process. The request is answered 400, the panic counted, and the
// sidecar serves on.
func TestFasthttpLogPanicKeepsServing(t *testing.T) {
	w := &alwaysPanicWriter{}
	st := startStack(t, func(c *Config) { c.Logger = zerolog.New(w) })
	w.armed.Store(true)
	if r := raw(t, st.addr, "GET /v1/users/7 HTTP/1.1\r\nHost: svc\r\nContent-Length: x\r\n\r\n"); r.status != 400 {
		t.Fatalf("malformed request: answer %d %q, want 400", r.status, r.body)
	}
	pollUntil(t, "fasthttp's log panic counted", func() (bool, string) {
		n := st.srv.metrics.panics.Load()
		return w.writes.Load() > 0 && n == 1, fmt.Sprint("panics counted: ", n)
	})
	if r := do(t, st.addr, "GET", "/v1/users/7", key(hrisKey), ""); r.status != 200 {
		t.Fatalf("after the log's panic: answer %d %q, want 200", r.status, r.body)
	}
}

// TestPolicySwapLogPanicKeepsServing: a policy swap logs from the
// writer's goroutine (the etcd watch in the sidecar), outside any
// recover. With a log writer that panics, the swap's warning (public
// routes may hold every upstream connection) panicked out of the
// preparer after the tables were in force but before the store had
// the snapshot, and ended the process. The panic is counted, the swap
// completes, and the next request is served on the new policy.
func TestPolicySwapLogPanicKeepsServing(t *testing.T) {
	w := &alwaysPanicWriter{}
	st := startStack(t, func(c *Config) { c.Logger = zerolog.New(w) })
	if r := do(t, st.addr, "GET", "/v1/users/7", key(hrisKey), ""); r.status != 200 {
		t.Fatalf("before the swap: answer %d %q, want 200", r.status, r.body)
	}
	w.armed.Store(true)
	swapDoc(t, st.store, func(d *policy.Document) {
		d.PublicRoutes = &policy.PublicSpec{MaxInFlight: 1 << 20}
		for i := range d.Clients {
			d.Clients[i].Scopes = nil
		}
	})
	if w.writes.Load() == 0 {
		t.Fatal("the swap logged nothing: the writer's panic was never raised")
	}
	if got, want := st.srv.prepared.Load().snap.Revision, st.store.Load().Revision; got != want || want != 2 {
		t.Fatalf("tables of revision %d, store at %d: want both at 2", got, want)
	}
	if r := do(t, st.addr, "GET", "/v1/users/7", key(hrisKey), ""); r.status != 403 {
		t.Fatalf("after the swap: answer %d %q, want 403 (its client has no scope left)", r.status, r.body)
	}
	if n := st.srv.metrics.panics.Load(); n != 1 {
		t.Errorf("panics counted %d, want 1", n)
	}
}

// TestAdminPanicLogHoldsNoPath: the admin listener's panic log line
// named the path asked for, client bytes that may hold a secret (a token
// pasted into a URL). It names the route: the path when it is one the
// listener serves, else a fixed name.
func TestAdminPanicLogHoldsNoPath(t *testing.T) {
	logs := &syncBuffer{}
	st := startStack(t, func(c *Config) { c.Logger = zerolog.New(logs) })
	admin := &Admin{Server: st.srv, Pprof: true}
	for path, route := range map[string]string{
		"/debug/pprof/profile" + panicSecret: "/debug/pprof/*",
		"/" + panicSecret:                    "other",
		"/readyz":                            "/readyz",
	} {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI(path)
		func() {
			defer admin.recover(&ctx)
			panic("admin handler exploded")
		}()
		if got := ctx.Response.StatusCode(); got != 500 {
			t.Errorf("%s: answer %d, want 500", path, got)
		}
		if want := `"route":"` + route + `"`; !strings.Contains(logs.String(), want) {
			t.Errorf("%s: no log line with %s:\n%s", path, want, logs.String())
		}
	}
	if out := logs.String(); strings.Contains(out, "sk_live_") {
		t.Fatalf("a log line holds the path's secret:\n%s", out)
	}
}
