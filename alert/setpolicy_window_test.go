package alert

import (
	"testing"
	"time"
)

// TestPolicyPushWidensKeptWindow: an operator widens the guessing rule
// from 20 in a minute to 50 in ten minutes and pushes the policy; the
// collector reloads its rules live (policy.push), keeping the windows of
// rules kept by name. A guesser sending 30 a minute from before the push
// on must fire the wider rule within its ten minutes: the kept window was
// cut for one minute (11 buckets of 6 s), summed at most 66 s of the ten
// minutes, and never reached 50.
func TestPolicyPushWidensKeptWindow(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	for _, ru := range r.doc.Detection {
		if ru.Name == "token-guessing-client" && (ru.Threshold != 20 || ru.Window != "1m") {
			t.Fatalf("example rule changed: %+v", ru)
		}
	}
	// 19 guesses in the first minute: under the old rule's 20.
	r.send(every(t0, 3*time.Second, 19, failed("acmehris1"), from("203.0.113.7"))...)
	d := examplePolicy(t)
	for i := range d.Detection {
		if d.Detection[i].Name == "token-guessing-client" {
			d.Detection[i].Threshold, d.Detection[i].Window = 50, "10m"
		}
	}
	if err := r.eng.SetPolicy(d, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Then 19 a minute for two more minutes (and a second): 57 in 3 minutes.
	r.send(every(t0.Add(time.Minute), 3*time.Second, 39, failed("acmehris1"), from("203.0.113.7"))...)
	a := wantAlerts(t, r, "token-guessing-client", 1)[0]
	if a.Count < 50 {
		t.Errorf("alert count %d, want the 50 or more guesses in the wider window", a.Count)
	}
}
