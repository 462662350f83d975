package dataplane

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/limiter"
	"github.com/portcullis/portcullis/policy"
)

// Outside review of the limits (a noisy tenant's angle), second round.
// Each test failed on the code it was written against.

// bulkConcurrency swaps in the example policy with the bulk class capped
// at max in flight (queue 16, max_wait 10s) and its rate out of the way.
func bulkConcurrency(t *testing.T, st *stack, max int) {
	t.Helper()
	swapDoc(t, st.store, func(d *policy.Document) {
		for i := range d.Classes {
			if d.Classes[i].Name == "bulk" {
				d.Classes[i].Limit = &policy.LimitSpec{Rate: "1000/s", Burst: 1000}
				d.Classes[i].Concurrency = &policy.ConcurrencySpec{Max: max, Queue: 16, MaxWait: "10s"}
			}
		}
	})
}

// Finding: a request that ended handed its concurrency slot to the first
// request queued for it whatever the cap then in force, so the count in
// flight never went down while the queue had someone in it. After a policy
// push lowered acme's bulk cap from 4 to 1 (or, in etcd mode, a sidecar
// joining lowered this one's share of it), a tenant keeping its queue
// busy kept 4 exports at the service for as long as it liked. A slot now
// passes to a queued request only while the key is within the newest cap
// it was acquired under; above it, the slot is freed.
func TestLoweredConcurrencyCapHoldsWithQueue(t *testing.T) {
	var mu sync.Mutex // guards cur, worst and swapped
	cur, worst, swapped := 0, 0, false
	release := make(chan struct{})
	arrived := make(chan struct{}, 16)
	up := startStreamUpstream(t, func(c net.Conn) error {
		mu.Lock()
		cur++
		if swapped {
			worst = max(worst, cur)
		}
		mu.Unlock()
		arrived <- struct{}{}
		<-release
		mu.Lock()
		cur--
		mu.Unlock()
		_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return err
	})
	st := startStack(t, func(c *Config) { c.Upstream = up })
	bulkConcurrency(t, st, 4)

	const n = 16
	done := make(chan int, n)
	export := func() { done <- do(t, st.addr, "POST", "/v1/exports", key(adminKey), "").status }
	for range 4 {
		go export()
	}
	for range 4 {
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the first four exports never reached the upstream")
		}
	}
	for range 4 {
		go export() // queued behind the four: the cap is full
	}
	waitQueued(t, st.srv, 4) // in the queue
	bulkConcurrency(t, st, 1)
	mu.Lock()
	swapped = true
	mu.Unlock()
	go export() // the first request under the new cap
	waitQueued(t, st.srv, 5)

	// The tenant keeps its queue busy while the exports end one at a
	// time; each arrival at the upstream sees how many are there with it.
	for i := range n {
		if i < n-9 {
			go export()
		}
		time.Sleep(30 * time.Millisecond)
		select {
		case release <- struct{}{}:
		case <-time.After(15 * time.Second):
			t.Fatalf("export %d never reached the upstream to be released", i+1)
		}
	}
	for range n {
		if s := <-done; s != 200 {
			t.Errorf("an export answered %d, want 200 (queued within max_wait)", s)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if worst > 1 {
		t.Errorf("after the push lowered acme's bulk cap to 1, %d exports were at the service at once: the queue kept the old cap of 4", worst)
	}
}

// Finding: a request that loaded the tables before a push lowered acme's
// bulk cap from 4 to 1 and reached step 6 after it set the old cap of 4
// back on acme's slot key: it was admitted with one export in flight, and
// so was the export queued under the new cap, until a request under the
// new cap came. A key keeps the newest cap (by its since); the stale
// request is judged under it and queues. Its tables are the ones it
// loaded, handed to limit directly: the microseconds between the load
// and step 6 cannot be opened over a socket. The other exports are real
// requests to a real sidecar and upstream.
func TestStaleSnapshotCapIgnored(t *testing.T) {
	up, arrived, release := startHeldUpstream(t)
	st := startStack(t, func(c *Config) { c.Upstream = up })
	bulkConcurrency(t, st, 4)
	stale := st.srv.prepared.Load()
	bulkConcurrency(t, st, 1)

	done := make(chan int, 2)
	export := func() { done <- do(t, st.addr, "POST", "/v1/exports", key(adminKey), "").status }
	go export()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("the first export never reached the upstream")
	}
	go export()
	waitQueued(t, st.srv, 1)

	x := &exchange{prep: stale, client: stale.snap.Clients["acme-admin"], mono: limiter.Now(), rec: new(audit.Record)}
	for _, r := range stale.snap.Routes {
		if r.Method == "POST" && r.Template == "/v1/exports" {
			x.route = r
		}
	}
	decided := make(chan audit.Decision, 1)
	go func() { decided <- st.srv.limit(x) }()
	defer func() { // every request ends, the stale one too, and frees its slot
		close(release)
		<-done
		<-done
		if <-decided == audit.Allowed {
			st.srv.inflight.Release(x.slot)
		}
	}()
	select {
	case d := <-decided:
		decided <- d
		t.Fatalf("a request holding the tables before the push to 1, with 1 export in flight and 1 queued: %s at once (%d more at the upstream), want queued", d, len(arrived))
	case <-arrived:
		t.Fatal("the export queued under the new cap of 1 reached the upstream with 1 in flight, after a request under the old cap of 4")
	case <-queuedCh(st.srv, 2):
	case <-time.After(15 * time.Second):
		t.Fatalf("the stale request neither decided nor queued: %d queued", st.srv.inflight.Queued())
	}
}

// queuedCh returns a channel closed once srv's concurrency queues hold n
// requests; it gives up silently after 10 s, which the caller's other
// cases or its own timeout then report.
func queuedCh(srv *Server, n int) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
			if srv.inflight.Queued() == n {
				close(ch)
				return
			}
		}
	}()
	return ch
}

// Finding: a key kept its newest cap only while it had a request in
// flight or queued. Once the export under the new cap of 1 had ended,
// acme's slot key was idle and kept nothing, so requests that loaded the
// tables before the push lowered the cap from 4, reaching step 6 after
// it, set the old cap back: the second was admitted with one in flight.
// The key now keeps its cap while idle; the second stale request queues.
// The stale tables are handed to limit directly, as in
// TestStaleSnapshotCapIgnored; the export under the new cap is a real
// request to a real sidecar and upstream.
func TestStaleSnapshotCapOnIdleKeyIgnored(t *testing.T) {
	st := startStack(t, nil)
	bulkConcurrency(t, st, 4)
	stale := st.srv.prepared.Load()
	bulkConcurrency(t, st, 1)
	if r := do(t, st.addr, "POST", "/v1/exports", key(adminKey), ""); r.status != 200 {
		t.Fatalf("an export under the new cap of 1: %d %s, want 200", r.status, r.body)
	}
	staleExport := func() *exchange {
		x := &exchange{prep: stale, client: stale.snap.Clients["acme-admin"], mono: limiter.Now(), rec: new(audit.Record)}
		for _, r := range stale.snap.Routes {
			if r.Method == "POST" && r.Template == "/v1/exports" {
				x.route = r
			}
		}
		return x
	}
	first := staleExport()
	if d := st.srv.limit(first); d != audit.Allowed {
		t.Fatalf("the first stale request, alone on acme's idle slot key: %s, want allowed", d)
	}
	second := staleExport()
	decided := make(chan audit.Decision, 1)
	go func() { decided <- st.srv.limit(second) }()
	select {
	case d := <-decided:
		if d == audit.Allowed {
			st.srv.inflight.Release(second.slot)
		}
		st.srv.inflight.Release(first.slot)
		t.Fatalf("a second request holding the tables before the push to 1, with 1 in flight: %s at once, want queued", d)
	case <-queuedCh(st.srv, 1):
	case <-time.After(15 * time.Second):
		t.Fatalf("the second stale request neither decided nor queued: %d queued", st.srv.inflight.Queued())
	}
	st.srv.inflight.Release(first.slot)
	if d := <-decided; d != audit.Allowed {
		t.Fatalf("the queued stale request after the slot was freed: %s, want allowed", d)
	}
	st.srv.inflight.Release(second.slot)
}
