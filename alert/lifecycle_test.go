package alert

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestSustainedAttackOneAlert: 10 minutes (simulated clock) of guessing at
// 5 requests a second is one alert whose count grows, opened once, with
// an alert.update at most once per window (issue 14: no alert storm).
func TestSustainedAttackOneAlert(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	for s := range 600 { // one batch a second, as a sidecar flushes
		r.send(every(t0.Add(time.Duration(s)*time.Second), 200*time.Millisecond, 5, failed("acmehris1"))...)
	}
	a := wantAlerts(t, r, "token-guessing-client", 1)[0]
	if a.Count != 3000 {
		t.Errorf("count = %d, want 3000 (every failure of the attack)", a.Count)
	}
	if len(r.opens) != 2 { // one per rule: client and source
		t.Errorf("OnOpen called %d times, want 2 (token-guessing-client and -source)", len(r.opens))
	}
	if got := r.trailEvents(ActionOpen); len(got) != 2 {
		t.Errorf("%d alert.open events stored, want 2", len(got))
	}
	if got := len(r.trailEvents(ActionUpdate)); got < 9 || got > 22 {
		t.Errorf("%d alert.update events stored, want about one a minute per alert", got)
	}
}

func lifecycle(t time.Time, action, id, actor, note string, d map[string]string) collector.Event {
	raw, _ := json.Marshal(d)
	return collector.Event{Time: t, Key: "/portcullis/events/" + action + id, Revision: t.UnixNano(), Actor: actor, Action: action, Target: id, Reason: note, Details: raw}
}

// TestLifecycleAndRefire walks an alert through its states from stored
// lifecycle events, and checks that a re-fire after closure is a new
// alert naming the closed one.
func TestLifecycleAndRefire(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	r.send(every(t0, time.Second, 25, failed("acmehris1"))...)
	id := wantAlerts(t, r, "token-guessing-client", 1)[0].ID
	steps := []struct {
		ev   collector.Event
		want string
	}{
		{lifecycle(t0.Add(time.Minute), ActionTicket, id, "portcullis-collector", "", map[string]string{"sink": "secops", "ticket": "SEC-42"}), StatusTicketed},
		{lifecycle(t0.Add(2*time.Minute), ActionAck, id, "alice", "looking", nil), StatusAcknowledged},
		{lifecycle(t0.Add(3*time.Minute), ActionContain, id, "alice", "alert "+id, map[string]string{"action": "suspend", "client": "acme-hris"}), StatusContained},
		{lifecycle(t0.Add(4*time.Minute), ActionClose, id, "alice", "key rotated", map[string]string{"corrective_action": "rotate the key, tell the owner"}), StatusClosed},
	}
	for _, s := range steps {
		r.event(s.ev)
		a, _ := r.eng.Alert(id)
		if a.Status != s.want {
			t.Fatalf("after %s: status %q, want %q", s.ev.Action, a.Status, s.want)
		}
	}
	a, _ := r.eng.Alert(id)
	if len(a.Tickets) != 1 || a.Tickets[0].Key != "SEC-42" || a.Note != "key rotated" || a.CorrectiveAction == "" || len(a.History) != 4 {
		t.Errorf("closed alert = %+v", a)
	}
	r.send(every(t0.Add(10*time.Minute), time.Second, 25, failed("acmehris1"))...)
	got := wantAlerts(t, r, "token-guessing-client", 2)
	if got[1].Previous != id || got[1].Status != StatusOpen {
		t.Errorf("re-fired alert = %+v, want open naming %s", got[1], id)
	}
}

// TestStateSurvivesRestart: the windows and alerts are rebuilt from the
// trail, so failures before and after a restart add up, and an open alert
// keeps growing instead of opening again.
func TestStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	r.send(every(t0, time.Second, 15, failed("acmehris1"))...) // under the threshold of 20
	r.restart()
	r.send(every(t0.Add(15*time.Second), time.Second, 10, failed("acmehris1"))...)
	a := wantAlerts(t, r, "token-guessing-client", 1)[0]
	r.restart()
	r.opens = nil
	r.send(every(t0.Add(25*time.Second), time.Second, 10, failed("acmehris1"), from("192.0.2.1"))...)
	got := wantAlerts(t, r, "token-guessing-client", 1)[0]
	if got.ID != a.ID || got.Count <= a.Count {
		t.Errorf("after restart: %+v, want %s with a count above %d", got, a.ID, a.Count)
	}
	if n := len(r.trailEvents(ActionOpen)); n != 1 {
		t.Errorf("%d alert.open events in the trail, want 1", n)
	}
	if len(r.opens) != 0 {
		t.Errorf("OnOpen called after the restart for %+v, want none (replay fires nothing)", r.opens)
	}
}
