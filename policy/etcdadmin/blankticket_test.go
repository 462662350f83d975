package etcdadmin

import (
	"context"
	"errors"
	"testing"
	"time"
)

// require_ticket wants a ticket someone can read: a ticket of invisible
// characters (a zero-width space, a word joiner, a byte order mark) names
// none. Before, only white space was trimmed, so --ticket $'\u200b'
// passed require_ticket, and the evidence pack counted the change as
// ticketed (TestPackCountsNoInvisibleTicket).
func TestRequireTicketRefusesAnInvisibleTicket(t *testing.T) {
	t.Parallel()
	a := New(dial(t, shared), newPrefix(t))
	push(t, a, lifecyclePolicy(t))
	ctx := context.Background()
	for _, blank := range []string{"\u200b", " \u2060\t", "\ufeff", "\u00a0"} {
		m := Meta{Actor: "tester", Reason: "r", Ticket: blank}
		checks := map[string]error{}
		_, _, checks["create"] = a.CreateKey(ctx, "acme-hris", 0, m)
		_, checks["suspend"] = a.Suspend(ctx, "acme-hris", time.Hour, m)
		_, checks["alert event"] = a.RecordAlertEvent(ctx, "alert.ack", "alert-1", m, nil)
		_, checks["policy push"] = a.PushPolicy(ctx, lifecyclePolicy(t), 0, m)
		for op, err := range checks {
			if !errors.Is(err, ErrTicketRequired) {
				t.Errorf("%s with ticket %q = %v, want ErrTicketRequired", op, blank, err)
			}
		}
	}
	if !Blank(" \u200b\ufeff") || Blank("CHG-1") {
		t.Error("Blank tells a visible ticket from an invisible one wrongly")
	}
}
