package dataplane

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// spendLedger admits the approval id for client and route as often as
// asked, counting the uses it held, spent and gave back; probe, when
// set, runs inside each Reserve, where the real ledger makes its etcd
// round trips.
type spendLedger struct {
	id, client, route string
	probe             func() int
	mu                sync.Mutex // guards the following fields
	held, released    int
	spent             int
	probed            []int // what probe returned, by Reserve
}

func (l *spendLedger) Reserve(id []byte, client, route string, _ []byte, _ time.Time) ApprovalHold {
	var p int
	if l.probe != nil {
		p = l.probe()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.probe != nil {
		l.probed = append(l.probed, p)
	}
	if string(id) != l.id || client != l.client || route != l.route {
		return nil
	}
	l.held++
	return &fakeHold{
		commit:  func() bool { l.mu.Lock(); defer l.mu.Unlock(); l.spent++; return true },
		release: func() { l.mu.Lock(); defer l.mu.Unlock(); l.released++ },
	}
}

func (l *spendLedger) uses() (int, []int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.spent, append([]int(nil), l.probed...)
}

func (l *spendLedger) holds() (held, released int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held, l.released
}

const sendApproval = "apr_0123456789abcdef"

// Finding (review51): the approval of a request to a route that requires
// one was spent (an etcd transaction, a use of a grant of max_uses
// requests) at the end of the request's decision, before it waited for an
// upstream connection; the judgement with the connection in hand then
// refused it (its key revoked meanwhile) and the use was gone, for a
// request that never reached the service. The approval is now spent
// after that judgement: here the ledger must not be asked at all. The
// queue's wait, which ends before the decision does, is held to it too.
func TestApprovalNotSpentOnRequestRefusedAtSend(t *testing.T) {
	for _, pool := range []bool{true, false} {
		w := &waitScene{pool: pool}
		t.Run(w.where(), func(t *testing.T) {
			ledger := &spendLedger{id: sendApproval, client: "acme-admin", route: "POST /v1/exports/full"}
			w := newWaitSceneWith(t, pool, func(c *Config) { c.Approvals = ledger })
			w.hold(t, w.export(t, key(adminKey)))
			w.wait(t, func() reply {
				return do(t, w.st.addr, "POST", "/v1/exports/full", map[string]string{
					"X-API-Key": adminKey, "X-Portcullis-Approval": sendApproval, "X-Request-ID": "approval-refused-at-send",
				}, "")
			})
			prev := w.st.store.Load()
			next, err := policy.Amend(prev, policy.Live{Revision: prev.Revision + 1, RevokedKeys: map[string]bool{"acmeadm1": true}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			w.st.store.Swap(next)
			first, second := w.finish(t)
			w.check(t, "its key revoked", first, second, "approval-refused-at-send", 401, audit.KeyRevoked)
			if n, _ := ledger.uses(); n != 0 {
				t.Errorf("its key revoked while the request waited %s: the ledger spent %d use(s) of its approval for a request refused 401; want none", w.where(), n)
			}
		})
	}
}

// Finding (review51): a request whose route came to require an approval
// while it waited for an upstream connection had its approval spent, an
// etcd round trip of up to the ledger's timeout, while it held that
// connection: with the pool at its cap, every other request waited on
// etcd. The connection now goes back to the pool for the round trip: a
// request made from inside the ledger's Consume, of another client, gets
// the pool's one connection and is served.
func TestApprovalSpentWithoutHoldingUpstreamConnection(t *testing.T) {
	ledger := &spendLedger{id: sendApproval, client: "acme-admin", route: "POST /v1/exports"}
	w := newWaitSceneWith(t, true, func(c *Config) { c.Approvals, c.UpstreamTimeout = ledger, 3*time.Second })
	ledger.probe = func() int {
		return probeStatus(w.st.addr, "GET /v1/users/7 HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nX-API-Key: "+hrisKey+"\r\n\r\n")
	}
	w.hold(t, w.export(t, key(adminKey)))
	w.wait(t, w.export(t, map[string]string{"X-API-Key": adminKey, "X-Portcullis-Approval": sendApproval, "X-Request-ID": "approval-newly-required"}))
	swapDoc(t, w.st.store, func(d *policy.Document) {
		exportWait(true)(d)
		for i := range d.Routes {
			if d.Routes[i].Method == "POST" && d.Routes[i].Path == "/v1/exports" {
				d.Routes[i].Approval = &policy.ApprovalSpec{Required: true, MaxUses: 1, MaxAge: "1h"}
			}
		}
	})
	first, second := w.finish(t)
	if first.status != 200 || second.status != 200 {
		t.Fatalf("the exports answered %d and %d %q; want 200 and 200 (the second spending its approval)", first.status, second.status, second.body)
	}
	if rec := w.st.sink.withRequestID(t, "approval-newly-required"); string(rec.ApprovalID()) != sendApproval {
		t.Errorf("the record names approval %q, want %s", rec.ApprovalID(), sendApproval)
	}
	n, probed := ledger.uses()
	if n != 1 || len(probed) != 1 || probed[0] != 200 {
		t.Errorf("the ledger spent %d use(s); a request sent while it worked was answered %v; want 1 use, and [200] (the upstream connection free)", n, probed)
	}
}

// probeStatus sends request to addr and returns the answer's status, 0
// when there is none; it runs off the test's goroutine, so it reports
// nothing itself.
func probeStatus(addr, request string) int {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write([]byte(request)); err != nil {
		return 0
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Finding (review63): the approval was spent (an etcd use, gone for
// good) before the request was judged again with its upstream connection
// in hand, so a revocation or suspension that reached the sidecar during
// the etcd round trip refused a request whose approver's use was lost.
// A use is now held (Reserve) before that judgement and spent (Commit)
// only after it; refused, the request gives it back. Here the key is
// revoked inside Reserve: the request is refused 401, the use it held
// goes back, none is spent and the service sees nothing.
func TestApprovalGivenBackOnRequestRefusedAtSend(t *testing.T) {
	t.Parallel()
	ledger := &spendLedger{id: sendApproval, client: "acme-admin", route: "POST /v1/exports/full"}
	st := startStack(t, func(c *Config) { c.Approvals = ledger })
	ledger.probe = func() int {
		prev := st.store.Load()
		next, err := policy.Amend(prev, policy.Live{Revision: prev.Revision + 1, RevokedKeys: map[string]bool{"acmeadm1": true}}, nil)
		if err != nil {
			return -1
		}
		st.store.Swap(next)
		return 0
	}
	r := do(t, st.addr, "POST", "/v1/exports/full", map[string]string{
		"X-API-Key": adminKey, "X-Portcullis-Approval": sendApproval, "X-Request-ID": "approval-revoked-in-reserve",
	}, "{}")
	if r.status != 401 {
		t.Fatalf("key revoked while its approval was reserved: %d %s, want 401", r.status, r.body)
	}
	spent, probed := ledger.uses()
	held, released := ledger.holds()
	if len(probed) != 1 || probed[0] != 0 || held != 1 || released != 1 || spent != 0 {
		t.Errorf("reserved %d (probe %v), gave back %d, spent %d; want 1 held, given back, none spent", held, probed, released, spent)
	}
	if n := len(st.up.received()); n != 0 {
		t.Errorf("the service received %d requests, want none", n)
	}
}

// Finding (read69): the use held for a request was tracked by its route
// alone, so a policy push that moved the request's key to another client
// while the use was reserved let the request, decided again as that
// client, spend the first client's approval and reach the service: an
// approval is for one client (ApprovalLedger). A hold is now for a route
// and a client; decided again as another, the request gives the use back
// and reserves one for the client it now is, which the ledger refuses.
func TestApprovalHeldForAnotherClientGivenBack(t *testing.T) {
	t.Parallel()
	ledger := &spendLedger{id: sendApproval, client: "acme-admin", route: "POST /v1/exports/full"}
	st := startStack(t, func(c *Config) { c.Approvals = ledger })
	var moved sync.Once
	ledger.probe = func() int {
		moved.Do(func() {
			doc := *loadExample(t).Doc
			doc.Clients = append(append([]policy.ClientSpec(nil), doc.Clients...),
				policy.ClientSpec{ID: "acme-admin2", Tenant: "acme", Scopes: []string{"export:data"}})
			doc.Keys = append([]policy.KeySpec(nil), doc.Keys...)
			for i := range doc.Keys {
				if doc.Keys[i].ID == "acmeadm1" {
					doc.Keys[i].Client = "acme-admin2"
				}
			}
			snap, err := policy.Compile(&doc, policy.Live{Revision: st.store.Load().Revision + 1})
			if err != nil {
				panic(err)
			}
			st.store.Swap(snap)
		})
		return 0
	}
	r := do(t, st.addr, "POST", "/v1/exports/full", map[string]string{
		"X-API-Key": adminKey, "X-Portcullis-Approval": sendApproval, "X-Request-ID": "approval-key-moved-in-reserve",
	}, "{}")
	spent, _ := ledger.uses()
	held, released := ledger.holds()
	if r.status == 200 || spent != 0 || held != 1 || released != 1 {
		t.Errorf("key moved to another client while acme-admin's approval was reserved: %d, held %d, gave back %d, spent %d; want refused, 1 held, given back, none spent", r.status, held, released, spent)
	}
	if n := len(st.up.received()); n != 0 {
		t.Errorf("the service received %d requests, want none", n)
	}
}

// Outlasts: a fake ledger holds a use for as long as its test needs.
func (*spendLedger) Outlasts(time.Duration) error { return nil }
