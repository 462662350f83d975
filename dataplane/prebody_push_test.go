package dataplane

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// Finding (attack131, on 59a510c): a chunked upload refused before its
// body is answered past preBodyFree, its headers gone, with the decision
// marked on its connection, made on the tables in force when its head
// came. errorHandler recorded it under the tables in force when the body
// ran over, so a push in between (the route's scope granted to the
// caller) left a record saying that policy revision refused the request,
// which it admits. The mark keeps the tables it was decided on
// (conn.pre, preRefusal.give: prebody132, merged first; this test,
// written against 59a510c, passes on it).

// TestPushBetweenHeadAndBodyAuditsTheDecidingTables sends, over a real
// socket, a chunked 20 KiB upload by an API key lacking POST
// /v1/records' scope; the policy granting it the scope is pushed while
// the check before the body runs (from the request path's clock, the
// check's first reading of it). The 403 is audited with the revision
// that refused it.
func TestPushBetweenHeadAndBodyAuditsTheDecidingTables(t *testing.T) {
	var hook atomic.Pointer[func()]
	st := startStack(t, func(c *Config) {
		c.Clock = func() time.Time {
			if f := hook.Swap(nil); f != nil {
				(*f)()
			}
			return time.Now()
		}
	})
	before := st.store.Load().Revision
	doc := *loadExample(t).Doc
	doc.Clients = append([]policy.ClientSpec(nil), doc.Clients...)
	for i := range doc.Clients {
		if doc.Clients[i].ID == "acme-admin" {
			doc.Clients[i].Scopes = append(append([]string(nil), doc.Clients[i].Scopes...), "write:records")
		}
	}
	granted, err := policy.Compile(&doc, policy.Live{Revision: before + 1})
	if err != nil {
		t.Fatal(err)
	}
	pushed := make(chan struct{})
	push := func() {
		defer close(pushed)
		st.store.Swap(granted)
		for end := time.Now().Add(10 * time.Second); st.srv.prepared.Load().snapshot() != granted && time.Now().Before(end); {
			time.Sleep(time.Millisecond)
		}
	}
	hook.Store(&push)
	r := firstAnswer(t, st.addr, "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: "+adminKey+"\r\n"+
		"Transfer-Encoding: chunked\r\n\r\n5000\r\n"+strings.Repeat("a", 0x5000)+"\r\n", "")
	select {
	case <-pushed:
	default:
		t.Fatal("the push did not run during the check before the body")
	}
	if st.srv.prepared.Load().snapshot() != granted {
		t.Fatal("the pushed tables never came into force")
	}
	if r.status != 403 || r.errorBody(t).Error != audit.Forbidden.String() {
		t.Fatalf("answered %d %q, want 403 forbidden (refused on the tables its head came under)", r.status, r.body)
	}
	if rec := st.sink.withRequestID(t, r.header.Get("X-Request-Id")); rec.Decision != audit.Forbidden || rec.PolicyRevision != before {
		t.Errorf("audited %v under policy revision %d, want forbidden under revision %d, the tables that refused it (revision %d grants the scope)",
			rec.Decision, rec.PolicyRevision, before, before+1)
	}
}
