package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOutboxSendsOnlyTheEnginesAlerts: whoever can write the collector's
// data directory planted deliveries in DIR/tickets, which the outbox sent
// under the collector's sink credential and recorded in the trail: an
// alert the trail never opened, with the planter's tenant and text; the
// closure of a ticket that is not the alert's; and, for a real alert,
// its queued opening rewritten to another tenant and client; the
// closure of its own ticket while it is open (attack805).
// The outbox now sends only alerts the engine holds, as the engine holds
// them, and tells only the alert's own tickets of a closure; a planted
// delivery is reported and removed.
func TestOutboxSendsOnlyTheEnginesAlerts(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret-for-the-test")
	rcv := newReceiver(t, secret)
	dir := filepath.Join(t.TempDir(), "tickets")
	sinks := []*Sink{{Name: "secops", Kind: "webhook", URL: rcv.srv.URL, secret: secret}}
	errs := make(chan error, 100)
	o, err := NewOutbox(OutboxConfig{Dir: dir, Sinks: sinks, MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		OnError: func(err error) {
			select {
			case errs <- err:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	r := newRigWith(t, examplePolicy(t), func(a Alert) {
		if err := o.Enqueue(a); err != nil {
			t.Errorf("Enqueue: %v", err)
		}
	})
	o.cfg.Engine = r.eng
	r.send(every(t0, time.Second, 25, failed("acmehris1"))...)
	real := wantAlerts(t, r, "token-guessing-client", 1)[0]
	plant := func(name string, q queued) {
		t.Helper()
		b, err := json.Marshal(q)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	forged := real
	forged.ID, forged.Tenant, forged.Client, forged.Key = "forged-1", "globex", "globex-sso", "globex-sso"
	plant("forged-1~secops.json", queued{Alert: forged, Sink: "secops"})
	plant("forged-2~secops~close-x.json", queued{Alert: real, Sink: "secops", Close: "SEC-NOT-ITS-OWN"})
	rewritten := real
	rewritten.Tenant, rewritten.Client = "globex", "globex-sso"
	plant(real.ID+"~secops.json", queued{Alert: rewritten, Sink: "secops"})

	var bodies []string
	orig := rcv.srv.Config.Handler
	rcv.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		rcv.mu.Lock()
		bodies = append(bodies, string(b))
		rcv.mu.Unlock()
		req.Body = io.NopCloser(bytes.NewReader(b))
		orig.ServeHTTP(w, req)
	})
	rcv.up.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); o.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the real alert's ticket", func() bool { a, _ := r.eng.Alert(real.ID); return hasTicket(&a, "secops") })
	waitFor(t, "the outbox empty", func() bool { return o.Pending() == 0 })
	// The real alert is still open: a closure of its own ticket is none
	// the engine queued, and closed the incident's ticket at the sink.
	opened, _ := r.eng.Alert(real.ID)
	plant(real.ID+"~secops~close-own.json", queued{Alert: opened, Sink: "secops", Close: opened.Tickets[0].Key})
	o.poke()
	waitFor(t, "the outbox empty again", func() bool { return o.Pending() == 0 })
	rcv.mu.Lock()
	got := map[string]int{}
	for id, n := range rcv.got {
		got[id] = n
	}
	for _, b := range bodies {
		if strings.Contains(b, "globex") {
			t.Errorf("the sink got the planter's tenant: %s", b)
		}
	}
	rcv.mu.Unlock()
	for id := range got {
		if strings.Contains(id, "forged") || strings.Contains(id, "SEC-NOT-ITS-OWN") {
			t.Errorf("the sink got planted delivery %q", id)
		}
	}
	if len(got) != 1 {
		t.Errorf("the sink got %d deliveries (%v), want the real alert's only", len(got), got)
	}
	for _, e := range r.trailEvents(ActionTicket) {
		if strings.Contains(e.Target, "forged") {
			t.Errorf("the trail records a ticket of planted alert %q", e.Target)
		}
	}
	for _, e := range r.trailEvents(ActionTicketUpdate) {
		t.Errorf("the trail records a ticket update %s of a closure the engine never queued", e.Details)
	}
	if _, ok := r.eng.Alert("forged-1"); ok {
		t.Error("the planted alert is in the engine")
	}
}
