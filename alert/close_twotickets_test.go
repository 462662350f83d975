package alert

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestClosureToldToEachTicketAtOneSink: an alert with two tickets at one
// sink (the sink's issue, and one recorded through etcd) was told of its
// closure at one of them: both closures were queued in one file,
// ALERT~SINK~close.json, the second written over the first, and the
// trail's closure of the sink, whichever ticket it told, settled the
// other. Each ticket's closure now has its own file and record, kept
// across a restart.
func TestClosureToldToEachTicketAtOneSink(t *testing.T) {
	t.Parallel()
	clock := &simClock{}
	clock.set(t0.Add(24 * time.Hour))
	jira := newFoldJira(t)
	sinks := []*Sink{{Name: "jira", Kind: "jira", URL: jira.srv.URL + "/rest/api/2/issue", Project: "SEC", secret: []byte("bot:token")}}
	outDir := t.TempDir()
	var box atomic.Pointer[Outbox]
	r := newRigWith(t, examplePolicy(t), enqueueInto(t, &box))
	start := func() {
		t.Helper()
		o, err := NewOutbox(OutboxConfig{Dir: outDir, Sinks: sinks, Engine: r.eng, Key: r.key, Now: clock.now, MinBackoff: time.Millisecond, MaxBackoff: time.Second,
			OnError: func(error) {}})
		if err != nil {
			t.Fatal(err)
		}
		box.Store(o)
		if err := o.Reconcile(); err != nil {
			t.Fatal(err)
		}
	}
	start()
	pass := func() {
		clock.set(clock.now().Add(time.Hour))
		box.Load().deliverDue(context.Background())
	}
	r.send(every(t0, time.Second, 30, failed(""), from("203.0.113.1"))...)
	id := wantAlerts(t, r, "token-guessing-source", 1)[0].ID
	pass()
	a, _ := r.eng.Alert(id)
	if len(a.Tickets) != 1 {
		t.Fatalf("tickets %+v, want the Jira issue", a.Tickets)
	}
	own := a.Tickets[0].Key
	const second = "SEC-900"
	r.event(lifecycle(t0.Add(time.Minute), ActionTicket, id, "alice", "linked the SOC's issue", map[string]string{"sink": "jira", "ticket": second}))
	r.event(lifecycle(t0.Add(2*time.Minute), ActionClose, id, "alice", "blocked", map[string]string{"corrective_action": "block"}))
	jira.up.Store(false)
	a, _ = r.eng.Alert(id)
	if err := box.Load().EnqueueClose(a); err != nil {
		t.Fatal(err)
	}
	pass()
	if n := box.Load().Pending(); n != 2 {
		t.Errorf("%d closures queued while Jira is down, want 2: one for each ticket", n)
	}
	r.restart()
	jira.up.Store(true)
	start()
	pass()
	pass()
	jira.mu.Lock()
	for _, key := range []string{own, second} {
		if c := jira.comments[key]; len(c) != 1 || !strings.Contains(c[0], "blocked") {
			t.Errorf("ticket %s got the comments %q, want one telling the closure", key, c)
		}
	}
	jira.mu.Unlock()
	var told []string
	for _, ev := range r.trailEvents(ActionTicketUpdate) {
		var d map[string]string
		json.Unmarshal(ev.Details, &d)
		told = append(told, d["ticket"])
	}
	if len(told) != 2 || told[0] == told[1] {
		t.Errorf("the trail records the closure told to %q, want each of %s and %s once", told, own, second)
	}
	if n := box.Load().Pending(); n != 0 {
		t.Errorf("%d deliveries left, want none", n)
	}
}

// anyTicketClosed reports whether the trail records the closure reaching
// a ticket of sink.
func anyTicketClosed(a *Alert, sink string) bool {
	for _, t := range a.Tickets {
		if t.Sink == sink && ticketClosed(a, sink, t.Key) {
			return true
		}
	}
	return false
}
