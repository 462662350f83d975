package alert

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

func TestWebhookSignature(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret-for-the-test")
	a := &Alert{ID: "alert-x", Rule: "r", Severity: "high", Group: "client", Key: "acme-hris"}
	s := &Sink{Name: "secops", Kind: "webhook", URL: "http://127.0.0.1:1/a", secret: secret}
	now := time.Unix(1_800_000_000, 0)
	req, err := s.request(a, now)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(req.Body)
	if err := VerifyWebhook(secret, req.Header, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatalf("VerifyWebhook of a fresh delivery: %v", err)
	}
	if got := req.Header.Get(HeaderDelivery); got != "alert-x.secops" {
		t.Errorf("delivery id %q, want alert-x.secops", got)
	}
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-3] ^= 1
	if err := VerifyWebhook(secret, req.Header, tampered, now, 5*time.Minute); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered body: %v, want ErrBadSignature", err)
	}
	if err := VerifyWebhook([]byte("other"), req.Header, body, now, 5*time.Minute); !errors.Is(err, ErrBadSignature) {
		t.Errorf("wrong secret: %v, want ErrBadSignature", err)
	}
	if err := VerifyWebhook(secret, req.Header, body, now.Add(time.Hour), 5*time.Minute); !errors.Is(err, ErrStale) {
		t.Errorf("replayed an hour later: %v, want ErrStale", err)
	}
	if strings.Contains(string(body), string(secret)) {
		t.Error("the payload holds the secret")
	}
}

func TestResolveSecret(t *testing.T) {
	t.Setenv("PORTCULLIS_TEST_TICKET_SECRET", "from-env")
	f := filepath.Join(t.TempDir(), "s")
	os.WriteFile(f, []byte("from-file\n"), 0o600)
	for ref, want := range map[string]string{"env:PORTCULLIS_TEST_TICKET_SECRET": "from-env", "file:" + f: "from-file"} {
		if got, err := ResolveSecret(ref); err != nil || string(got) != want {
			t.Errorf("ResolveSecret(%q) = %q, %v; want %q", ref, got, err, want)
		}
	}
	sinks, err := NewSinks([]policy.TicketSpec{{Name: "a", Kind: "webhook", URL: "http://127.0.0.1:1/", Secret: "file:" + f},
		{Name: "b", Kind: "webhook", URL: "http://127.0.0.1:1/", Secret: "env:PORTCULLIS_TEST_UNSET_SECRET"}})
	if len(sinks) != 1 || sinks[0].Name != "a" || err == nil || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("NewSinks = %v, %v; want sink a, and an error naming b", sinks, err)
	}
	for _, ref := range []string{"env:PORTCULLIS_TEST_UNSET_SECRET", "file:/nonexistent/x", "hunter2"} {
		if _, err := ResolveSecret(ref); err == nil {
			t.Errorf("ResolveSecret(%q) succeeded, want an error", ref)
		}
	}
}

// receiver is a webhook receiver on loopback: it verifies each delivery's
// signature and counts accepted deliveries by id; while down it answers 503.
type receiver struct {
	srv    *httptest.Server
	secret []byte
	up     atomic.Bool
	tries  atomic.Int64
	mu     sync.Mutex
	got    map[string]int
	bad    []string
}

func newReceiver(t *testing.T, secret []byte) *receiver {
	r := &receiver{secret: secret, got: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.tries.Add(1)
		if !r.up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := VerifyWebhook(r.secret, req.Header, body, time.Now(), 5*time.Minute); err != nil {
			r.bad = append(r.bad, err.Error())
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		id := req.Header.Get(HeaderDelivery)
		r.got[id]++
		json.NewEncoder(w).Encode(map[string]string{"ticket": "SEC-" + id[len(id)-12:]})
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOutboxExactlyOnceAcrossRestart: alerts fire while the webhook is
// down; the collector restarts meanwhile (one queued delivery lost with
// the crash, before it was written); the webhook comes back; every alert
// reaches it exactly once and its ticket key is on the alert.
func TestOutboxExactlyOnceAcrossRestart(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret-for-the-test")
	rcv := newReceiver(t, secret)
	sinks := []*Sink{{Name: "secops", Kind: "webhook", URL: rcv.srv.URL, secret: secret}}
	outDir := t.TempDir()
	var box atomic.Pointer[Outbox]
	r := newRigWith(t, examplePolicy(t), enqueueInto(t, &box))
	start := func() (context.CancelFunc, chan struct{}) {
		o, err := NewOutbox(OutboxConfig{Dir: outDir, Sinks: sinks, Engine: r.eng, Key: r.key, MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		box.Store(o)
		if err := o.Reconcile(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); o.Run(ctx) }()
		return cancel, done
	}
	cancel, done := start()
	r.send(every(t0, time.Second, 25, failed("acmehris1"))...)              // client and source rules
	r.send(every(t0.Add(time.Hour), time.Second, 3, failed("revoked1"))...) // dead credential
	r.send(every(t0.Add(2*time.Hour), 20*time.Second, 25, export)...)       // bulk spike
	want := len(r.eng.Alerts())
	if want < 3 {
		t.Fatalf("%d alerts, want at least 3", want)
	}
	waitFor(t, "retries against the down webhook", func() bool { return rcv.tries.Load() >= int64(2*want) })
	cancel()
	<-done
	// The crash: one delivery had not been written yet.
	names, _ := box.Load().list()
	if len(names) != want {
		t.Fatalf("%d queued deliveries, want %d", len(names), want)
	}
	os.Remove(filepath.Join(outDir, names[0]))
	r.restart()
	cancel, done = start()
	defer func() { cancel(); <-done }()
	rcv.up.Store(true)
	waitFor(t, "every alert ticketed", func() bool {
		for _, a := range r.eng.Alerts() {
			if len(a.Tickets) == 0 {
				return false
			}
		}
		return box.Load().Pending() == 0
	})
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.got) != want || len(rcv.bad) > 0 {
		t.Errorf("receiver got %v (bad: %v), want %d deliveries", rcv.got, rcv.bad, want)
	}
	for id, n := range rcv.got {
		if n != 1 {
			t.Errorf("delivery %s received %d times, want once", id, n)
		}
	}
	for _, a := range r.eng.Alerts() {
		if len(a.Tickets) != 1 || !strings.HasPrefix(a.Tickets[0].Key, "SEC-") || a.Status != StatusTicketed {
			t.Errorf("alert %s: tickets %+v status %s, want one SEC- ticket, ticketed", a.ID, a.Tickets, a.Status)
		}
	}
	if n := len(r.trailEvents(ActionTicket)); n != want {
		t.Errorf("%d alert.ticket events in the trail, want %d", n, want)
	}
}

// TestOutboxClosesTickets: closing an alert tells its ticket, once, with
// a signed alert.close, recorded in the trail as alert.ticket_update; a
// restart sends it again neither from the queue nor from Reconcile.
func TestOutboxClosesTickets(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret-for-the-test")
	rcv := newReceiver(t, secret)
	rcv.up.Store(true)
	sinks := []*Sink{{Name: "secops", Kind: "webhook", URL: rcv.srv.URL, secret: secret}}
	outDir := t.TempDir()
	var box atomic.Pointer[Outbox]
	r := newRigWith(t, examplePolicy(t), func(a Alert) { box.Load().Enqueue(a) })
	start := func() func() {
		o, err := NewOutbox(OutboxConfig{Dir: outDir, Sinks: sinks, Engine: r.eng, Key: r.key, MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		box.Store(o)
		r.eng.cfg.OnClose = func(a Alert) { box.Load().EnqueueClose(a) }
		if err := o.Reconcile(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); o.Run(ctx) }()
		return func() { cancel(); <-done }
	}
	stop := start()
	r.send(every(t0, time.Second, 25, failed("acmehris1"))...)
	id := wantAlerts(t, r, "token-guessing-client", 1)[0].ID
	waitFor(t, "the ticket", func() bool { a, _ := r.eng.Alert(id); return len(a.Tickets) == 1 })
	r.event(lifecycle(t0.Add(time.Hour), ActionClose, id, "alice", "done", map[string]string{"corrective_action": "rotated"}))
	waitFor(t, "the closure at the ticket", func() bool { a, _ := r.eng.Alert(id); return anyTicketClosed(&a, "secops") })
	stop()
	r.restart()
	o, err := NewOutbox(OutboxConfig{Dir: outDir, Sinks: sinks, Engine: r.eng})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Reconcile(); err != nil {
		t.Fatal(err)
	}
	o.deliverDue(context.Background()) // what a restarted collector's first pass would send
	if n := o.Pending(); n != 0 {
		t.Errorf("%d deliveries queued after the restart, want none", n)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if got := rcv.got[id+".secops.close"]; got != 1 {
		t.Errorf("closure delivered %d times, want once (all: %v)", got, rcv.got)
	}
	if n := len(r.trailEvents(ActionTicketUpdate)); n != 1 {
		t.Errorf("%d alert.ticket_update events, want 1", n)
	}
}

// TestOutboxClosesServiceNowIncident: the ServiceNow ticket key keeps the
// sys_id of the create answer, and closing the alert closes the incident
// through the table API (PATCH /api/now/table/incident/{sys_id}, state 7
// Closed, close notes), recorded as alert.ticket_update. The server is a
// loopback stand-in speaking ServiceNow's published Table API format, not
// a ServiceNow instance.
func TestOutboxClosesServiceNowIncident(t *testing.T) {
	t.Parallel()
	const sysID = "46d44a5ea9fe198201d2cd8fbb1e7af7"
	var mu sync.Mutex
	var patches []map[string]string
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/api/now/table/incident":
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"result":{"number":"INC0010002","sys_id":"`+sysID+`","state":"1"}}`)
		case r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, "/api/now/table/incident/"):
			var body map[string]string
			json.NewDecoder(r.Body).Decode(&body)
			mu.Lock()
			patches, paths = append(patches, body), append(paths, r.URL.Path)
			mu.Unlock()
			io.WriteString(w, `{"result":{"number":"INC0010002","sys_id":"`+sysID+`","state":"7"}}`)
		default:
			http.Error(w, `{"error":{"message":"No Record found"},"status":"failure"}`, http.StatusNotFound)
		}
	}))
	defer srv.Close()
	sinks := []*Sink{{Name: "snow", Kind: "servicenow", URL: srv.URL + "/api/now/table/incident", Project: "Security Ops", secret: []byte("svc:pw")}}
	var box atomic.Pointer[Outbox]
	r := newRigWith(t, examplePolicy(t), func(a Alert) { box.Load().Enqueue(a) })
	o, err := NewOutbox(OutboxConfig{Dir: t.TempDir(), Sinks: sinks, Engine: r.eng, Key: r.key, Client: srv.Client(), MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	box.Store(o)
	r.eng.cfg.OnClose = func(a Alert) { box.Load().EnqueueClose(a) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); o.Run(ctx) }()
	defer func() { cancel(); <-done }()
	r.send(every(t0, time.Second, 25, failed("acmehris1"))...)
	id := wantAlerts(t, r, "token-guessing-client", 1)[0].ID
	waitFor(t, "the ticket", func() bool { a, _ := r.eng.Alert(id); return len(a.Tickets) == 1 })
	if a, _ := r.eng.Alert(id); a.Tickets[0].Key != "INC0010002/"+sysID {
		t.Errorf("ticket key %q, want INC0010002/%s (number and sys_id)", a.Tickets[0].Key, sysID)
	}
	r.event(lifecycle(t0.Add(time.Hour), ActionClose, id, "alice", "done", map[string]string{"corrective_action": "rotated"}))
	waitFor(t, "the closure at the incident", func() bool { a, _ := r.eng.Alert(id); return anyTicketClosed(&a, "snow") })
	mu.Lock()
	defer mu.Unlock()
	if len(patches) != 1 || paths[0] != "/api/now/table/incident/"+sysID || patches[0]["state"] != "7" ||
		!strings.Contains(patches[0]["close_notes"], id) || patches[0]["close_code"] == "" {
		t.Errorf("PATCHes %v to %v, want one to /api/now/table/incident/%s with state 7, a close_code and close notes naming %s", patches, paths, sysID, id)
	}
}
