package alert

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// jiraServer speaks Jira's REST API v2 for issues and comments: POST
// /rest/api/2/issue files SEC-n, POST /rest/api/2/issue/{key}/comment
// comments on an issue that exists and answers 404 (Jira's error body)
// for one that was deleted; while down it answers 503.
type jiraServer struct {
	srv     *httptest.Server
	up      atomic.Bool
	mu      sync.Mutex
	issues  map[string]bool // key -> exists
	created []string        // X-Portcullis-Delivery of each issue filed
}

func newJiraServer(t *testing.T) *jiraServer {
	j := &jiraServer{issues: map[string]bool{}}
	j.up.Store(true)
	j.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if !j.up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		j.mu.Lock()
		defer j.mu.Unlock()
		switch rest := strings.TrimPrefix(r.URL.Path, "/rest/api/2/issue"); {
		case r.Method == http.MethodPost && rest == "":
			key := "SEC-" + strconv.Itoa(len(j.created)+1)
			j.created = append(j.created, r.Header.Get(HeaderDelivery))
			j.issues[key] = true
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(map[string]string{"id": strconv.Itoa(10000 + len(j.created)), "key": key, "self": j.srv.URL + "/rest/api/2/issue/" + key})
		case r.Method == http.MethodPost && strings.HasSuffix(rest, "/comment"):
			if !j.issues[strings.TrimSuffix(strings.TrimPrefix(rest, "/"), "/comment")] {
				w.WriteHeader(http.StatusNotFound)
				io.WriteString(w, `{"errorMessages":["Issue does not exist or you do not have permission to see it."],"errors":{}}`)
				return
			}
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"id":"1","body":"ok"}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(j.srv.Close)
	return j
}

// TestOutboxRefusedDeliveryHoldsNoOther: someone deleted a Jira issue,
// then its alert was closed: Jira answers 404 to the closure's comment
// (now recorded refused and not retried, but a refusal the sink might
// answer at each try held the others back the same way). Jira is briefly down when a new alert fires. Once it is back,
// the new alert's issue must be filed: the refused closure, tried first
// in every pass (its alert is older), marked the whole sink down for the
// pass, the new alert was skipped without a retry time of its own, and
// the next pass came at the refused one's retry time: the new alert's
// ticket waited for the next alert to wake the outbox, however long.
// The passes run as Run runs them (each after the wait the last
// returned), on a simulated clock.
func TestOutboxRefusedDeliveryHoldsNoOther(t *testing.T) {
	t.Parallel()
	j := newJiraServer(t)
	var box atomic.Pointer[Outbox]
	r := newRigWith(t, examplePolicy(t), enqueueInto(t, &box))
	r.eng.cfg.OnClose = func(a Alert) { box.Load().EnqueueClose(a) }
	var mu sync.Mutex
	clock := t0.Add(24 * time.Hour)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	sinks := []*Sink{{Name: "jira", Kind: "jira", URL: j.srv.URL + "/rest/api/2/issue", Project: "SEC", secret: []byte("bot@example.com:tok")}}
	o, err := NewOutbox(OutboxConfig{Dir: t.TempDir(), Sinks: sinks, Engine: r.eng, Key: r.key, Client: j.srv.Client(),
		RuleSink: map[string]string{}, Now: now, MinBackoff: time.Second, MaxBackoff: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	box.Store(o)
	ctx := context.Background()

	// The first alert is filed, its issue deleted, the alert closed.
	r.send(every(t0, time.Second, 30, failed(""), from("203.0.113.1"))...)
	first := wantAlerts(t, r, "token-guessing-source", 1)[0]
	o.deliverDue(ctx)
	filedFirst, _ := r.eng.Alert(first.ID)
	if len(filedFirst.Tickets) != 1 {
		t.Fatalf("first alert not filed: %+v", filedFirst.Tickets)
	}
	j.mu.Lock()
	j.issues[filedFirst.Tickets[0].Key] = false
	j.mu.Unlock()
	r.event(lifecycle(t0.Add(time.Minute), ActionClose, first.ID, "alice", "blocked", map[string]string{"corrective_action": "block"}))
	o.deliverDue(ctx) // 404

	// Jira is down when the second alert fires.
	j.up.Store(false)
	r.send(every(t0.Add(time.Hour), time.Second, 30, failed(""), from("203.0.113.2"))...)
	if n := len(r.alerts("token-guessing-source")); n != 2 {
		t.Fatalf("%d token-guessing-source alerts, want 2", n)
	}
	advance(time.Hour) // every retry due
	wait := o.deliverDue(ctx)
	j.up.Store(true)
	for range 50 { // 50 passes, minutes of the simulated clock
		advance(wait)
		wait = o.deliverDue(ctx)
	}
	j.mu.Lock()
	filed := len(j.created)
	j.mu.Unlock()
	if filed != 2 {
		t.Errorf("Jira has %d issues after 50 passes with it up, want 2: the second alert's ticket is held back by the refused closure", filed)
	}
	if o.Pending() != 0 || len(r.trailEvents(ActionTicketCloseRefused)) != 1 {
		t.Errorf("%d deliveries queued, %d closures recorded refused; want none queued, the 404 recorded refused (TestOutboxCloseRefusedForGoodStops)",
			o.Pending(), len(r.trailEvents(ActionTicketCloseRefused)))
	}
}
