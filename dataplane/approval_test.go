package dataplane

import (
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// onceLedger admits the approval id once, for one client and route, and
// records what it was asked. It stands in for etcdsync.Ledger, which the
// data plane's tests cannot link (TestArchitecture: no etcd here); the
// real one is tested against etcd in policy/etcdsync and, over two
// sidecars, in cmd/portcullis (TestApprovalsEndToEnd).
type onceLedger struct {
	id, client, route string
	mu                sync.Mutex // guards the following fields
	used, held        bool
	asked             []string
}

func (l *onceLedger) Reserve(id []byte, client, route string, requestID []byte, _ time.Time) ApprovalHold {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asked = append(l.asked, string(id)+" "+client+" "+route+" "+string(requestID))
	if l.used || l.held || string(id) != l.id || client != l.client || route != l.route {
		return nil
	}
	l.held = true
	return &fakeHold{
		commit:  func() bool { l.mu.Lock(); defer l.mu.Unlock(); l.used, l.held = true, false; return true },
		release: func() { l.mu.Lock(); defer l.mu.Unlock(); l.held = false },
	}
}

// fakeHold is the use a test ledger holds: Commit and Release run the
// ledger's bookkeeping, each at most once.
type fakeHold struct {
	commit  func() bool
	release func()
	done    bool
}

func (h *fakeHold) Commit(time.Time) bool {
	if h.done {
		panic("hold committed after it ended")
	}
	h.done = true
	return h.commit()
}

func (h *fakeHold) Release() {
	if !h.done {
		h.done = true
		h.release()
	}
}

// A route that requires an approval admits a request only when the
// ledger takes a use of the approval its X-Portcullis-Approval names; the
// header never reaches the service; the record names the approval.
func TestApprovalRoute(t *testing.T) {
	t.Parallel()
	ledger := &onceLedger{id: "apr_0123456789abcdef", client: "acme-admin", route: "POST /v1/exports/full"}
	st := startStack(t, func(c *Config) { c.Approvals = ledger })
	send := func(id, reqID string) reply {
		h := map[string]string{"X-API-Key": adminKey, "X-Request-ID": reqID}
		if id != "" {
			h["X-Portcullis-Approval"] = id
		}
		return do(t, st.addr, "POST", "/v1/exports/full", h, "{}")
	}
	refused := func(r reply, what string) {
		t.Helper()
		if r.status != 403 || r.errorBody(t).Error != "approval_required" {
			t.Errorf("%s = %d %s, want 403 approval_required", what, r.status, r.body)
		}
	}
	refused(send("", "r-none"), "no approval")
	refused(send("APR_BAD!", "r-bad"), "malformed approval id")
	if rec := st.sink.last(t); rec.Decision != audit.ApprovalRequired || len(rec.ApprovalID()) != 0 {
		t.Errorf("record of a malformed id: decision %v, approval %q; want approval_required, none", rec.Decision, rec.ApprovalID())
	}
	if r := send(ledger.id, "r-ok"); r.status != 200 {
		t.Fatalf("granted approval = %d %s, want 200", r.status, r.body)
	}
	if rec := st.sink.last(t); rec.Decision != audit.Allowed || string(rec.ApprovalID()) != ledger.id {
		t.Errorf("record: decision %v, approval %q; want allowed, %s", rec.Decision, rec.ApprovalID(), ledger.id)
	}
	refused(send(ledger.id, "r-again"), "used approval")
	if rec := st.sink.last(t); string(rec.ApprovalID()) != ledger.id {
		t.Errorf("record of the refused reuse names approval %q, want %s", rec.ApprovalID(), ledger.id)
	}
	// A route without an approval never asks the ledger, and strips the
	// header like any X-Portcullis-* header.
	h := map[string]string{"X-API-Key": adminKey, "X-Portcullis-Approval": ledger.id}
	if r := do(t, st.addr, "POST", "/v1/exports", h, "{}"); r.status != 200 {
		t.Errorf("POST /v1/exports = %d, want 200", r.status)
	}
	for _, s := range st.up.received() {
		if v, ok := s.headers["x-portcullis-approval"]; ok {
			t.Errorf("the service received X-Portcullis-Approval: %q", v)
		}
	}
	want := []string{ledger.id + " acme-admin POST /v1/exports/full r-ok", ledger.id + " acme-admin POST /v1/exports/full r-again"}
	ledger.mu.Lock()
	defer ledger.mu.Unlock()
	if len(ledger.asked) != len(want) || ledger.asked[0] != want[0] || ledger.asked[1] != want[1] {
		t.Errorf("ledger asked %q, want %q", ledger.asked, want)
	}
}

// Without a ledger (a sidecar running from a policy file) a route that
// requires an approval refuses every request: fail closed.
func TestApprovalWithoutLedger(t *testing.T) {
	t.Parallel()
	st := startStack(t, nil)
	h := map[string]string{"X-API-Key": adminKey, "X-Portcullis-Approval": "apr_0123456789abcdef"}
	if r := do(t, st.addr, "POST", "/v1/exports/full", h, "{}"); r.status != 403 || r.errorBody(t).Error != "approval_required" {
		t.Errorf("no ledger = %d %s, want 403 approval_required", r.status, r.body)
	}
	if n := len(st.up.received()); n != 0 {
		t.Errorf("the service received %d requests, want none", n)
	}
}

// FuzzValidApprovalID checks the header's id check against its
// definition: 1 to audit.MaxApproval of [a-z0-9_-], nothing else.
func FuzzValidApprovalID(f *testing.F) {
	for _, s := range []string{"apr_0123456789abcdef", "", "APR", "apr\x00", "apr/../x", strings.Repeat("a", audit.MaxApproval+1), "é"} {
		f.Add([]byte(s))
	}
	re := regexp.MustCompile(`^[a-z0-9_-]{1,` + strconv.Itoa(audit.MaxApproval) + `}$`)
	f.Fuzz(func(t *testing.T, id []byte) {
		if got, want := validApprovalID(id), re.Match(id); got != want {
			t.Errorf("validApprovalID(%q) = %v, want %v", id, got, want)
		}
	})
}

// refusingLedger refuses every approval and counts what it was asked:
// each ask is an etcd round trip in the real ledger.
type refusingLedger struct {
	mu    sync.Mutex
	asked int
}

func (l *refusingLedger) Reserve([]byte, string, string, []byte, time.Time) ApprovalHold {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asked++
	return nil
}

func (l *refusingLedger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.asked
}

// A request whose approval the ledger refused keeps the rate-limit token
// it took: the ledger's answer cost an etcd round trip. Before, the token
// was given back, so a client with a valid key could send approval ids it
// made up without ever reaching its rate limit, each one a read of etcd
// (shared by every sidecar of the deployment). Here acme-admin may make 5
// requests a minute: 30 requests with made-up ids ask the ledger at most 5
// times and the rest are 429. A request without the header (no round
// trip) still gets its token back.
func TestApprovalRefusalKeepsRateLimitToken(t *testing.T) {
	t.Parallel()
	ledger := &refusingLedger{}
	st := startStack(t, func(c *Config) { c.Approvals = ledger })
	swapDoc(t, st.store, func(d *policy.Document) {
		for i := range d.Clients {
			if d.Clients[i].ID == "acme-admin" {
				d.Clients[i].Limit = &policy.LimitSpec{Rate: "1/m", Burst: 5}
			}
		}
	})
	h := map[string]string{"X-API-Key": adminKey}
	for i := 0; i < 10; i++ { // no header: refused before the ledger, token given back
		if r := do(t, st.addr, "POST", "/v1/exports/full", h, "{}"); r.status != 403 {
			t.Fatalf("request %d without an approval = %d %s, want 403", i, r.status, r.body)
		}
	}
	limited := 0
	for i := 0; i < 30; i++ {
		h := map[string]string{"X-API-Key": adminKey, "X-Portcullis-Approval": "apr_" + strconv.Itoa(1000000+i)}
		switch r := do(t, st.addr, "POST", "/v1/exports/full", h, "{}"); r.status {
		case 429:
			limited++
		case 403:
		default:
			t.Fatalf("request %d = %d %s, want 403 or 429", i, r.status, r.body)
		}
	}
	if got := ledger.count(); got > 6 {
		t.Errorf("the ledger was asked %d times for 30 made-up approvals at 5 requests a minute, want at most 6", got)
	}
	if limited < 24 {
		t.Errorf("%d of 30 requests were 429, want at least 24", limited)
	}
}

// A public route in a class that requires an approval: the request path
// admits a public route before any approval is asked for, so the class's
// approval would be silently ignored on it (before, the policy compiled
// and GET /v1/status answered 200 without any approval). Such a policy
// does not compile; the policy in force stays.
func TestApprovalClassWithPublicRoute(t *testing.T) {
	t.Parallel()
	ledger := &refusingLedger{}
	st := startStack(t, func(c *Config) { c.Approvals = ledger })
	doc := *loadExample(t).Doc
	doc.Classes = append([]policy.ClassSpec(nil), doc.Classes...)
	for i := range doc.Classes {
		if doc.Classes[i].Name == "standard" {
			doc.Classes[i].Approval = &policy.ApprovalSpec{Required: true}
		}
	}
	snap, err := policy.Compile(&doc, policy.Live{Revision: st.store.Load().Revision + 1})
	if err == nil {
		st.store.Swap(snap)
		if r := do(t, st.addr, "GET", "/v1/status", nil, ""); r.status == 200 {
			t.Errorf("GET /v1/status (public) in a class that requires an approval = 200 without one (ledger asked %d times); want the policy refused", ledger.count())
		}
		return
	}
	if !strings.Contains(err.Error(), "public route") {
		t.Errorf("Compile = %v, want an error naming the public route", err)
	}
}

// The approval is read from the request's header section only, once:
// fasthttp merges a chunked body's trailer fields into the header map
// after the header block scanHeaders checked, so before, an approval sent
// only as a trailer (past any proxy that inspects or strips the header)
// was consumed and the request admitted; and two X-Portcullis-Approval
// headers were resolved silently to the first. A trailer approval is now
// never read (403, the ledger not asked), and a repeated header is 400
// like a repeated credential.
func TestApprovalHeaderSectionOnly(t *testing.T) {
	t.Parallel()
	ledger := &onceLedger{id: "apr_0123456789abcdef", client: "acme-admin", route: "POST /v1/exports/full"}
	st := startStack(t, func(c *Config) { c.Approvals = ledger })
	head := "POST /v1/exports/full HTTP/1.1\r\nHost: x\r\nX-API-Key: " + adminKey + "\r\n"
	r := raw(t, st.addr, head+"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-Portcullis-Approval: "+ledger.id+"\r\n\r\n")
	if r.status != 403 || r.errorBody(t).Error != "approval_required" {
		t.Errorf("approval in a trailer = %d %s, want 403 approval_required", r.status, r.body)
	}
	for _, dup := range []string{"apr_zzz\r\nX-Portcullis-Approval: " + ledger.id, ledger.id + "\r\nx-portcullis-approval: " + ledger.id} {
		r := raw(t, st.addr, head+"X-Portcullis-Approval: "+dup+"\r\nContent-Length: 2\r\n\r\n{}")
		if r.status != 400 || r.errorBody(t).Error != "bad_request" {
			t.Errorf("two X-Portcullis-Approval headers = %d %s, want 400 bad_request", r.status, r.body)
		}
	}
	ledger.mu.Lock()
	asked := ledger.asked
	ledger.mu.Unlock()
	if len(asked) != 0 {
		t.Errorf("ledger asked %q, want nothing", asked)
	}
	if n := len(st.up.received()); n != 0 {
		t.Errorf("the service received %d requests, want none", n)
	}
	// The header itself still works, trimmed as any header.
	r = raw(t, st.addr, head+"X-Portcullis-Approval:  "+ledger.id+" \r\nContent-Length: 2\r\n\r\n{}")
	if r.status != 200 {
		t.Errorf("approval in the header = %d %s, want 200", r.status, r.body)
	}
}

// Outlasts: a fake ledger holds a use for as long as its test needs.
func (*onceLedger) Outlasts(time.Duration) error { return nil }

// Outlasts: a fake ledger holds a use for as long as its test needs.
func (*refusingLedger) Outlasts(time.Duration) error { return nil }
