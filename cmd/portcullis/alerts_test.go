package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/alert"
)

// TestAlertsLifecycleThroughEtcd runs the collector's detection wiring on
// a real store with a real etcd: a guessing burst stored as batches opens
// one alert; alerts list and show read it from the store; alerts ack and
// close write lifecycle events through etcd; the collector's event
// follower stores them and show reports the alert closed with its note
// and corrective action. A restart of the collector finds it closed.
func TestAlertsLifecycleThroughEtcd(t *testing.T) {
	t.Parallel()
	const prefix = "/alerts-test"
	e, admin := etcdAdmin(t, prefix)
	dir := t.TempDir()
	key := signingKey(t)
	store, _ := openDetection(t, context.Background(), dir, key, examplePolicy, admin)
	appendBatch(t, store, "b1", guesses(time.Now().UTC().Add(-time.Minute), 100*time.Millisecond, "acmehris1", "203.0.113.9", "r"))

	run := func(want int, f func([]string, *bytes.Buffer, *bytes.Buffer) int, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if got := f(args, &out, &errOut); got != want {
			t.Fatalf("portcullis alerts %v = exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, got, want, &out, &errOut)
		}
		return out.String() + errOut.String()
	}
	list := func(a []string, o, e *bytes.Buffer) int { return alertsList(a, o, e) }
	show := func(a []string, o, e *bytes.Buffer) int { return alertsShow(a, o, e) }
	endpoints := strings.Join(e.Endpoints(), ",")
	etcdRun := func(name string) func([]string, *bytes.Buffer, *bytes.Buffer) int {
		return func(a []string, o, errOut *bytes.Buffer) int {
			a = append(a, "--etcd", endpoints, "--prefix", prefix, "--actor", "alice")
			return etcdSub(t, name).main(a, o, errOut)
		}
	}
	out := run(0, list, "--data", dir, "--format", "json", "--rule", "token-guessing-client")
	var alerts []alert.Alert
	if err := json.NewDecoder(strings.NewReader(out)).Decode(&alerts); err != nil || len(alerts) != 1 { // then stderr's note: not verified
		t.Fatalf("alerts list = %s (%v), want one alert", out, err)
	}
	id := alerts[0].ID
	if out := run(0, show, id, "--data", dir); !strings.Contains(out, "token-guessing-client") || !strings.Contains(out, "r0") {
		t.Errorf("alerts show = %s, want the rule and the request ids", out)
	}
	run(1, show, "alert-nope", "--data", dir)
	run(2, list)
	ack, closeCmd := etcdRun("alerts ack"), etcdRun("alerts close")
	run(2, ack, id)                                         // no note
	run(2, closeCmd, id, "--note", "done")                  // no corrective action
	run(1, ack, "alert-nope", "--note", "x", "--data", dir) // unknown id refused
	run(1, ack, "alert-nope", "--note", "x")                // not an id, without --data too
	run(1, closeCmd, "INC-7", "--note", "x", "--corrective-action", "y")
	run(0, ack, id, "--note", "looking at it", "--data", dir)
	run(0, closeCmd, id, "--note", "guessing from one address", "--corrective-action", "blocked 203.0.113.9 at the edge", "--data", dir)

	// The collector's follower stores the events from etcd in the trail.
	stop := followEvents(context.Background(), admin, store, dir)
	var a alert.Alert
	pollUntil(t, pollWait, "alert "+id+" closed in the trail", func() (bool, string) {
		a = alert.Alert{}
		json.NewDecoder(strings.NewReader(run(0, show, id, "--data", dir, "--format", "json"))).Decode(&a)
		return a.Status == alert.StatusClosed, fmt.Sprintf("%+v", a)
	})
	if a.Note != "guessing from one address" || a.CorrectiveAction != "blocked 203.0.113.9 at the edge" || len(a.History) != 2 || a.History[0].Actor != "alice" {
		t.Errorf("closed alert = %+v", a)
	}
	stop()
	run(1, closeCmd, id, "--note", "again", "--corrective-action", "x", "--data", dir) // closed already
	store.Close()
	store2, det := openDetection(t, context.Background(), dir, key, examplePolicy, admin)
	defer store2.Close()
	if a, ok := det.engine.Alert(id); !ok || a.Status != alert.StatusClosed {
		t.Errorf("after a restart: %+v, want %s closed", a, id)
	}
}
