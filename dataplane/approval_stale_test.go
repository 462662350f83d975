//go:build linux

package dataplane

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// commitLedger admits every request; reserve runs inside Reserve and
// commit inside Commit, where the real ledger makes its etcd round trips.
type commitLedger struct{ reserve, commit func() }

func (l *commitLedger) Reserve([]byte, string, string, []byte, time.Time) ApprovalHold {
	l.reserve()
	return &fakeHold{commit: func() bool { l.commit(); return true }, release: func() {}}
}

// Outlasts: a fake ledger holds a use for as long as its test needs.
func (*commitLedger) Outlasts(time.Duration) error { return nil }

// Finding (review80): a request spends its approval (Commit, etcd round
// trips) with its upstream connection in hand, then writes itself on it.
// A connection dialed for it was written unchecked, as a new one is; it
// had sat idle for the round trips, and a service that answers an idle
// connection "408 Request Timeout" and closes it (Node, Apache) had done
// so: the 408 was taken as the request's answer, its approval spent. The
// connection is now checked after a Commit as a pooled one is, found
// stale, closed, and the request sent on a new one. Here the pool's other
// connection is busy, so the approved request dials, and the service
// answers that connection 408 while the ledger commits.
func TestConnectionCheckedAfterCommit(t *testing.T) {
	busy, release := make(chan struct{}), make(chan struct{})
	answered := make(chan struct{}) // the dialed connection got its 408 and was closed
	ok := func(*http.Request) []byte { return []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") }
	ln := acceptEach(t, func(n int, c net.Conn) {
		switch n {
		case 0: // the export's first connection, put back while it reserves; the GET's then
			serveRaw(c, func(r *http.Request) []byte { close(busy); <-release; return ok(r) })
		case 1: // dialed by the export to spend its approval on
			io.WriteString(c, "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 7\r\n\r\ntimeout")
			c.Close()
			close(answered)
		default:
			serveRaw(c, ok)
		}
	})
	var st *stack
	got := make(chan reply, 1)
	ledger := &commitLedger{
		reserve: func() {
			go func() { got <- do(t, st.addr, "GET", "/v1/users/42", key(hrisKey), "") }()
			<-busy // the pool's connection is the GET's now
		},
		commit: func() {
			<-answered
			time.Sleep(20 * time.Millisecond) // the 408 and the FIN are in the sidecar's socket
		},
	}
	// Both requests are acme's, and an export's class cap no longer
	// replaces the tenant's (half the pool by default): acme may hold both.
	st = startStack(t, func(c *Config) {
		c.Upstream, c.MaxUpstreamConn, c.TenantMaxInFlight, c.Approvals = ln.Addr().String(), 2, 2, ledger
	})
	r := do(t, st.addr, "POST", "/v1/exports/full", map[string]string{"X-API-Key": adminKey, "X-Portcullis-Approval": sendApproval}, "{}")
	close(release)
	if r.status != 200 || r.body != "ok" {
		t.Errorf("the export, its approval spent on a connection the service answered 408 meanwhile: %d %q, want 200 ok", r.status, r.body)
	}
	if g := <-got; g.status != 200 {
		t.Errorf("the GET on the pool's other connection: %d %q", g.status, g.body)
	}
}

// Finding (review89): a request spends its approval (Commit, etcd round
// trips) with its upstream connection in hand; its upstream write and
// read deadlines were set when the connection was taken, so the time
// the round trips took was taken from the service's: round trips longer
// than the upstream timeout left the request a deadline already past, and
// it was answered 504 without the service being asked. They now count
// from when the request is written. Here the ledger's Commit outlasts the
// upstream timeout and the service answers at once.
func TestUpstreamDeadlinesCountFromAfterCommit(t *testing.T) {
	const timeout = time.Second
	asked := make(chan struct{}, 4)
	ln := acceptEach(t, func(_ int, c net.Conn) {
		serveRaw(c, func(*http.Request) []byte {
			asked <- struct{}{}
			return []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		})
	})
	ledger := &commitLedger{reserve: func() {}, commit: func() { time.Sleep(timeout + timeout/2) }}
	st := startStack(t, func(c *Config) {
		c.Upstream, c.UpstreamTimeout, c.MaxUpstreamConn, c.Approvals = ln.Addr().String(), timeout, 1, ledger
	})
	r := do(t, st.addr, "POST", "/v1/exports/full", map[string]string{"X-API-Key": adminKey, "X-Portcullis-Approval": sendApproval}, "{}")
	if r.status != 200 || r.body != "ok" {
		t.Errorf("an approved request whose Commit took longer than the upstream timeout: %d %q, want 200 ok (the service answers at once)", r.status, r.body)
	}
	if len(asked) == 0 {
		t.Error("the service was never asked")
	}
}
