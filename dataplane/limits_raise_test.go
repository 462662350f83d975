package dataplane

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// Outside review of the limits (review28): a limit changed mid-flight.

// Finding: a raised concurrency cap was not used while requests waited
// in the class's queue. A request found free slots under the new cap but
// queued behind the waiters, and a slot that ended passed to one waiter
// only, so the count in flight stayed at the old cap for as long as the
// queue had someone in it: after a push raised acme's bulk cap from 1 to
// 4 (or, in etcd mode, a sidecar leaving raised this one's share), one
// export in flight and two queued kept acme at one export, and the next
// request was refused 429 concurrency_limited (queue full) with three of
// its four slots free. The waiters now take the free slots under the
// newest cap first.
func TestRaisedConcurrencyCapAdmitsTheQueue(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 8)
	up := startStreamUpstream(t, func(c net.Conn) error {
		arrived <- struct{}{}
		<-release
		_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return err
	})
	st := startStack(t, func(c *Config) { c.Upstream = up })
	bulkCap := func(max int) {
		swapDoc(t, st.store, func(d *policy.Document) {
			for i := range d.Classes {
				if d.Classes[i].Name == "bulk" {
					d.Classes[i].Limit = &policy.LimitSpec{Rate: "1000/s", Burst: 1000}
					d.Classes[i].Concurrency = &policy.ConcurrencySpec{Max: max, Queue: 2, MaxWait: "10s"}
				}
			}
		})
	}
	bulkCap(1)

	done := make(chan int, 4)
	export := func() { done <- do(t, st.addr, "POST", "/v1/exports", key(adminKey), "").status }
	answered, sent := 0, 0
	defer func() {
		close(release)
		for ; answered < sent; answered++ {
			<-done
		}
	}()
	sent++
	go export()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the first export never reached the upstream")
	}
	sent += 2
	go export()
	go export()
	time.Sleep(200 * time.Millisecond) // both in the queue: the cap of 1 is held
	if len(arrived) != 0 || len(done) != 0 {
		t.Fatalf("under the cap of 1: %d more exports reached the upstream, %d were answered; want both queued", len(arrived), len(done))
	}

	bulkCap(4)
	sent++
	go export() // the first request under the raised cap: 1 of 4 in flight
	for n := 0; n < 3; {
		select {
		case <-arrived:
			n++
		case s := <-done:
			answered++
			t.Fatalf("with 1 export in flight under acme's raised bulk cap of 4, an export was answered %d before the upstream saw it; want 4 in flight (%d of the other 3 arrived)", s, n)
		case <-time.After(5 * time.Second):
			t.Fatalf("with 1 export in flight under acme's raised bulk cap of 4, %d of the other 3 reached the upstream; want all", n)
		}
	}
}
