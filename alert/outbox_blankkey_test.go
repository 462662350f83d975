package alert

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestOutboxBlankTicketKeyIsAFailedDelivery: a sink answering 201 with a
// ticket key of no visible character (empty, spaces, a zero-width space,
// a word joiner, a byte order mark) had the alert marked ticketed, and
// the evidence pack counted it, with a ticket no one can find. Such an
// answer is now a failed delivery: nothing recorded, the alert still
// open, the try counted and logged naming the sink and not the key, and
// the delivery retried until the sink names a key.
func TestOutboxBlankTicketKeyIsAFailedDelivery(t *testing.T) {
	t.Parallel()
	blanks := []string{"", "  ", "\u200b", "\u2060 \ufeff"}
	for _, c := range []struct {
		kind, project string
		answer        func(blank string) string // the create answer with a blank key
		good, wantKey string                    // an answer naming a key, and the key recorded
	}{
		{"jira", "SEC", func(k string) string { return `{"id":"10001","key":"` + k + `"}` }, `{"id":"10001","key":"SEC-7"}`, "SEC-7"},
		{"servicenow", "secops", func(k string) string {
			return `{"result":{"number":"` + k + `","sys_id":"9d385017c611228701d22104cc95c371"}}`
		},
			`{"result":{"number":"INC0010007","sys_id":"9d385017c611228701d22104cc95c371"}}`, "INC0010007/9d385017c611228701d22104cc95c371"},
		{"servicenow", "secops", func(k string) string { return `{"result":{"number":"INC0010007","sys_id":"` + k + `"}}` },
			`{"result":{"number":"INC0010007","sys_id":"9d385017c611228701d22104cc95c371"}}`, "INC0010007/9d385017c611228701d22104cc95c371"},
		{"webhook", "", func(k string) string { return `{"ticket":"` + k + `"}` }, `{"ticket":"SEC-7"}`, "SEC-7"},
	} {
		for _, blank := range blanks {
			var good atomic.Bool
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusCreated)
				if good.Load() {
					io.WriteString(w, c.good)
				} else {
					io.WriteString(w, c.answer(blank))
				}
			}))
			t.Cleanup(srv.Close)
			r := newRig(t, examplePolicy(t))
			r.send(every(t0, time.Second, 30, failed(""), from("203.0.113.1"))...)
			a := wantAlerts(t, r, "token-guessing-source", 1)[0]
			var mu sync.Mutex
			clock := t0.Add(time.Hour)
			var logged []error
			sinks := []*Sink{{Name: "secops-" + c.kind, Kind: c.kind, URL: srv.URL + "/api", Project: c.project, secret: []byte("s3cret-token-value")}}
			o, err := NewOutbox(OutboxConfig{Dir: t.TempDir(), Sinks: sinks, Engine: r.eng, Key: r.key, Client: srv.Client(),
				Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }, MinBackoff: time.Second, MaxBackoff: time.Minute,
				OnError: func(err error) { mu.Lock(); logged = append(logged, err); mu.Unlock() }})
			if err != nil {
				t.Fatal(err)
			}
			if err := o.Enqueue(a); err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("%s answering %q", c.kind, c.answer(blank))
			o.deliverDue(context.Background())
			got, _ := r.eng.Alert(a.ID)
			if len(got.Tickets) != 0 || got.Status != StatusOpen || len(r.trailEvents(ActionTicket)) != 0 {
				t.Errorf("%s: after a blank key: tickets %q, status %s, %d alert.ticket events; want none, open, none", name, got.Tickets, got.Status, len(r.trailEvents(ActionTicket)))
			}
			if o.Pending() != 1 || o.Stats().DeliveryFailures != 1 {
				t.Errorf("%s: %d pending, %d failures counted; want the delivery kept and its failure counted", name, o.Pending(), o.Stats().DeliveryFailures)
			}
			mu.Lock()
			if len(logged) != 1 || !errors.Is(logged[0], ErrBlankTicketKey) || !strings.Contains(logged[0].Error(), `"`+sinks[0].Name+`"`) ||
				(strings.TrimSpace(blank) != "" && strings.Contains(logged[0].Error(), strings.TrimSpace(blank))) {
				t.Errorf("%s: logged %q; want one ErrBlankTicketKey naming sink %q, not quoting the key", name, logged, sinks[0].Name)
			}
			clock = clock.Add(time.Hour)
			mu.Unlock()
			good.Store(true)
			o.deliverDue(context.Background())
			got, _ = r.eng.Alert(a.ID)
			if len(got.Tickets) != 1 || got.Tickets[0].Key != c.wantKey || got.Status != StatusTicketed || o.Pending() != 0 {
				t.Errorf("%s: retried with a key: tickets %q, status %s, %d pending; want %s, ticketed, none", name, got.Tickets, got.Status, o.Pending(), c.wantKey)
			}
		}
	}
}

// TestBlankTicketInTrailIsNoTicket: a trail written before the outbox
// refused a blank key holds alert.ticket events naming one; the alert
// rebuilt from it is not ticketed (nor counted so by the pack), and the
// event stays in its history.
func TestBlankTicketInTrailIsNoTicket(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	r.send(every(t0, time.Second, 30, failed(""), from("203.0.113.1"))...)
	a := wantAlerts(t, r, "token-guessing-source", 1)[0]
	r.event(lifecycle(t0.Add(time.Minute), ActionTicket, a.ID, "portcullis-collector", "", map[string]string{"sink": "secops", "ticket": "\u200b \u2060"}))
	for _, when := range []string{"live", "replayed"} {
		got, _ := r.eng.Alert(a.ID)
		if len(got.Tickets) != 0 || got.Status != StatusOpen || got.History[len(got.History)-1].Action != ActionTicket {
			t.Errorf("%s: tickets %q, status %s; want none and open, the event in the history", when, got.Tickets, got.Status)
		}
		r.restart()
	}
}
