package alert

import (
	"fmt"
	"testing"
	"time"
)

// TestNewNetworkOneAlertPerClient: a client's key used from 300 /64s of
// one /48 (free from a tunnel broker) within a minute is one
// new-source-network alert whose count grows, not 300 alerts and 300
// tickets per sink; once that alert is closed, a further new network is
// a new alert naming it. A restart rebuilds the same.
func TestNewNetworkOneAlertPerClient(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	r.send(every(t0, time.Hour, 48)...) // two days from 10.1.2.0/24
	at := t0.Add(48 * time.Hour)
	for i := range 300 {
		r.send(rec(at.Add(time.Duration(i)*100*time.Millisecond), from(fmt.Sprintf("2001:db8:77:%x::1", i))))
	}
	a := wantAlerts(t, r, "new-source-network", 1)[0]
	if a.Count != 300 || a.Client != "acme-hris" {
		t.Errorf("alert = %+v, want acme-hris with count 300", a)
	}
	if len(r.opens) != 1 {
		t.Errorf("OnOpen (the ticket sinks) called %d times, want once", len(r.opens))
	}
	r.snap = true
	r.restart()
	wantAlerts(t, r, "new-source-network", 1)
	if err := r.eng.WriteSnapshot(at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	r.restart() // from the snapshot
	if r.stats.Snapshot == 0 {
		t.Fatalf("restart did not use the snapshot: %+v", r.stats)
	}
	r.send(rec(at.Add(time.Minute), from("2001:db8:77:ffff::1")))
	if a2 := wantAlerts(t, r, "new-source-network", 1)[0]; a2.ID != a.ID || a2.Count != 301 {
		t.Errorf("after a restart from the snapshot: alert %s count %d, want %s count 301", a2.ID, a2.Count, a.ID)
	}
	r.event(lifecycle(at.Add(time.Hour), ActionClose, a.ID, "alice", "known", map[string]string{"corrective_action": "none"}))
	r.send(rec(at.Add(2*time.Hour), from("2001:db8:99::1")))
	as := wantAlerts(t, r, "new-source-network", 2)
	if as[1].Previous != a.ID {
		t.Errorf("the re-fire names %q as previous, want %s", as[1].Previous, a.ID)
	}
}
