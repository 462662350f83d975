package main

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// The demo printed every part of an event, empty or not: the collector's
// alert events read "by portcullis-collector (, )" and an approval's use
// "by  (quarterly export, CHG-77)".
func TestEventLineLeavesOutEmptyParts(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 3, 19, 54, 27, 0, time.UTC)
	for _, c := range []struct {
		ev   collector.Event
		want string
	}{
		{collector.Event{Time: at, Action: "alert.ticket", Target: "alert-1", Actor: "portcullis-collector"},
			"   2026-12-03T19:54:27Z alert.ticket        alert-1 by portcullis-collector"},
		{collector.Event{Time: at, Action: "approval.use", Target: "apr_1", Reason: "quarterly export", Ticket: "CHG-77"},
			"   2026-12-03T19:54:27Z approval.use        apr_1 (quarterly export, CHG-77)"},
		{collector.Event{Time: at, Action: "alert.close", Target: "alert-1", Actor: "demo-operator", Reason: "not leaked"},
			"   2026-12-03T19:54:27Z alert.close         alert-1 by demo-operator (not leaked)"},
		{collector.Event{Time: at, Action: "key.create", Target: "k1", Actor: "demo-operator", Reason: "walkthrough", Ticket: "DEMO-42"},
			"   2026-12-03T19:54:27Z key.create          k1 by demo-operator (walkthrough, DEMO-42)"},
	} {
		if got := eventLine(&c.ev); got != c.want {
			t.Errorf("eventLine(%+v) =\n%q, want\n%q", c.ev, got, c.want)
		}
	}
}
