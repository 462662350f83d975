package dataplane

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// Outside review of the decision (review40): an attacker holding a
// low-privilege credential of one tenant.

// Finding: a request that waited in its class's concurrency queue was
// forwarded on the decision it got when it arrived. A revocation or a
// suspension that etcd delivered meanwhile (policy.Amend, in
// milliseconds) did not reach it: with max_wait up to 5 minutes, a
// client whose key was revoked, whose token's jti was revoked, or who
// was suspended by detection's containment, queued bulk exports before
// the revocation landed and had every one of them served after it. A
// request whose tables were replaced while it was decided is now
// authenticated and authorized again on the tables in force before it
// goes on.
func TestRevocationReachesQueuedRequests(t *testing.T) {
	token := mint(t, demoClaims("acme-admin", "acme", "export:data"))
	cases := []struct {
		name   string
		cred   map[string]string
		live   policy.Live // what etcd delivers while the request waits
		status int
	}{
		{"key revoked", key(adminKey), policy.Live{RevokedKeys: map[string]bool{"acmeadm1": true}}, 401},
		{"token jti revoked", bearer(token), policy.Live{RevokedJTIs: map[string]bool{"jti-acme-admin": true}}, 401},
		{"client suspended", key(adminKey), policy.Live{Suspended: map[string]struct{}{"acme-admin": {}}}, 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up, arrived, release := startHeldUpstream(t)
			st := startStack(t, func(c *Config) { c.Upstream = up })
			swapDoc(t, st.store, func(d *policy.Document) {
				for i := range d.Classes {
					if d.Classes[i].Name == "bulk" {
						d.Classes[i].Limit = &policy.LimitSpec{Rate: "1000/s", Burst: 1000}
						d.Classes[i].Concurrency = &policy.ConcurrencySpec{Max: 1, Queue: 2, MaxWait: "10s"}
					}
				}
			})
			done := make(chan int, 2)
			export := func() { done <- do(t, st.addr, "POST", "/v1/exports", tc.cred, "").status }
			released := false
			defer func() {
				if !released {
					close(release)
				}
			}()
			go export()
			select {
			case <-arrived:
			case <-time.After(10 * time.Second):
				t.Fatal("the first export never reached the upstream")
			}
			go export()
			waitQueued(t, st.srv, 1)

			prev := st.store.Load()
			live := tc.live
			live.Revision = prev.Revision + 1
			next, err := policy.Amend(prev, live, nil)
			if err != nil {
				t.Fatal(err)
			}
			st.store.Swap(next)
			close(release)
			released = true

			// The export in flight before the change is answered 200;
			// the two answers may come in either order.
			var got []int
			for range 2 {
				select {
				case s := <-done:
					got = append(got, s)
				case <-time.After(10 * time.Second):
					t.Fatalf("answers %v, then none for 10s", got)
				}
			}
			if !(got[0] == 200 && got[1] == tc.status || got[1] == 200 && got[0] == tc.status) || len(arrived) != 0 {
				t.Fatalf("%s while its export waited in the queue: the two exports answered %v and %d more request(s) reached the upstream; want 200 and %d, and none",
					tc.name, got, len(arrived), tc.status)
			}
		})
	}
}
