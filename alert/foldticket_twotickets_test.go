package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestFoldUpdatesToldToEachTicketAtOneSink: an alert holds a ticket per
// alert.ticket event, and two of them may name one sink (the sink's own
// issue, and one an operator filed in the same Jira and recorded through
// etcd). The updates of a folded alert were tracked per sink: one queued
// file for the sink (ALERT~SINK~fold.json), and the trail's updates
// counted by sink, whichever ticket they told. So the first ticket's
// update counted for the second, which was never told, and only one of
// them could wait queued while the sink was down. Each ticket's updates
// are now tracked by its key: its own queued file, its own count and gap
// from the trail, across a restart. Two rules' folded alerts ticketing
// into one Jira were tracked apart already (each alert its own file).
func TestFoldUpdatesToldToEachTicketAtOneSink(t *testing.T) {
	t.Parallel()
	clock := &simClock{}
	base := time.Now().UTC().Truncate(time.Second)
	clock.set(base)
	secret := []byte("s3cret-for-the-test")
	jira, hook := newFoldJira(t), newFoldHook(t, secret, clock.now)
	sinks := []*Sink{{Name: "jira", Kind: "jira", URL: jira.srv.URL + "/rest/api/2/issue", Project: "SEC", secret: []byte("bot:token")},
		{Name: "hook", Kind: "webhook", URL: hook.srv.URL, secret: secret}}
	outDir := t.TempDir()
	var box atomic.Pointer[Outbox]
	r := newRigWith(t, examplePolicy(t), enqueueInto(t, &box))
	start := func() {
		t.Helper()
		o, err := NewOutbox(OutboxConfig{Dir: outDir, Sinks: sinks, Engine: r.eng, Key: r.key, Now: clock.now, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Minute,
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
	deliver := func(at time.Duration) {
		t.Helper()
		clock.set(base.Add(at))
		box.Load().deliverDue(context.Background())
		box.Load().deliverDue(context.Background())
	}
	fold := noisyFolds(t, r, t0)
	fold(maxOpenPerRule + 1)
	deliver(0)
	folded := r.eng.FoldedAlerts()
	if len(folded) != 1 || len(folded[0].Tickets) != 2 {
		t.Fatalf("folded alerts %+v, want one with its Jira and webhook tickets", folded)
	}
	a := folded[0]
	var own string
	for _, tk := range a.Tickets {
		if tk.Sink == "jira" {
			own = tk.Key
		}
	}
	// A second issue of the same Jira, recorded through etcd as the
	// forwarder stores an event.
	const second = "SEC-900"
	d, _ := json.Marshal(map[string]string{"sink": "jira", "ticket": second})
	r.event(collector.Event{Time: clock.now(), Key: "/portcullis/default/events/alert/" + a.ID + "/ticket", Revision: 42, Actor: "alice",
		Action: ActionTicket, Target: a.ID, Reason: "linked the SOC's issue", Details: d})
	// And a second ticket at the webhook, whose update names the alert,
	// not the ticket: told once, as before, not the same message twice.
	d, _ = json.Marshal(map[string]string{"sink": "hook", "ticket": "HOOK-2"})
	r.event(collector.Event{Time: clock.now(), Key: "/portcullis/default/events/alert/" + a.ID + "/ticket-hook", Revision: 43, Actor: "alice",
		Action: ActionTicket, Target: a.ID, Details: d})
	if a, _ = r.eng.Alert(a.ID); len(a.Tickets) != 4 {
		t.Fatalf("tickets %+v, want two at sink jira and two at the webhook", a.Tickets)
	}
	told := func() map[string][]int64 {
		jira.mu.Lock()
		defer jira.mu.Unlock()
		out := map[string][]int64{}
		for _, key := range []string{own, second} {
			out[key] = []int64{}
			for _, c := range jira.comments[key] {
				var n int64
				if i := strings.Index(c, "it folds "); i >= 0 {
					fmt.Sscan(c[i+len("it folds "):], &n)
				}
				out[key] = append(out[key], n)
			}
		}
		return out
	}
	check := func(when string, want ...int64) {
		t.Helper()
		got := told()
		for _, key := range []string{own, second} {
			if fmt.Sprint(got[key]) != fmt.Sprint(want) {
				t.Fatalf("%s: the comments on %s tell %v groups, on %s %v; want %v on each of the two tickets at sink jira",
					when, own, got[own], second, got[second], want)
			}
		}
	}
	fold(400)
	deliver(time.Minute)
	check("a minute after the ticket", 401)
	hook.mu.Lock()
	if _, ok := hook.updates[a.ID+".hook.fold.1"]; len(hook.updates) != 1 || !ok || len(hook.bad) != 0 {
		t.Errorf("the webhook took the updates %v (refused %q), want one, %s.hook.fold.1", hook.updates, hook.bad, a.ID)
	}
	hook.mu.Unlock()
	deliver(time.Minute + 30*time.Second)
	check("30 s later", 401)

	// Jira down when the next updates fall due: each ticket's waits
	// queued, in its own file, across a restart.
	fold(100)
	jira.up.Store(false)
	deliver(3*time.Minute + time.Second)
	if n := box.Load().Pending(); n != 2 {
		t.Errorf("%d deliveries queued while Jira is down, want 2: an update of each ticket", n)
	}
	r.restart()
	jira.up.Store(true)
	start()
	deliver(3*time.Minute + 2*time.Second)
	check("after a restart", 401, 501)
	if n := box.Load().Pending(); n != 0 {
		t.Errorf("%d deliveries left queued, want none", n)
	}
	// The trail tells each ticket's gap: nothing more until it passes.
	fold(10)
	deliver(6 * time.Minute)
	check("within the gap after a restart", 401, 501)
	deliver(7*time.Minute + 3*time.Second)
	check("once the gap passed", 401, 501, 511)
	var recorded []string
	for _, ev := range r.trailEvents(ActionTicketUpdate) {
		var d map[string]string
		json.Unmarshal(ev.Details, &d)
		if d["sink"] != "jira" {
			continue
		}
		recorded = append(recorded, d["ticket"]+":"+d["folded"])
	}
	sort.Strings(recorded)
	want := []string{own + ":401", own + ":501", own + ":511", second + ":401", second + ":501", second + ":511"}
	sort.Strings(want)
	if fmt.Sprint(recorded) != fmt.Sprint(want) {
		t.Errorf("the trail records the updates %v, want %v", recorded, want)
	}

	// An etcd writer recording ticket after ticket at the sink gets no
	// more than maxSinkTickets of them told.
	for i := 1; i <= 4; i++ {
		d, _ := json.Marshal(map[string]string{"sink": "jira", "ticket": fmt.Sprint("SEC-90", i)})
		r.event(collector.Event{Time: clock.now(), Key: fmt.Sprint("/portcullis/default/events/alert/", a.ID, "/ticket", i), Revision: int64(50 + i),
			Actor: "mallory", Action: ActionTicket, Target: a.ID, Details: d})
	}
	fold(10)
	deliver(9 * time.Minute)
	jira.mu.Lock()
	defer jira.mu.Unlock()
	for i := 1; i <= 4; i++ {
		key := fmt.Sprint("SEC-90", i)
		if want := i <= maxSinkTickets-2; (len(jira.comments[key]) > 0) != want {
			t.Errorf("%s, the sink's ticket %d: %d comments, want some: %v", key, i+2, len(jira.comments[key]), want)
		}
	}
}
