package alert

import (
	"context"
	"encoding/json"
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

// foldJira stands for Jira's REST API v2 on loopback: it files an issue
// for each POST /rest/api/2/issue and keeps the comments each issue gets.
type foldJira struct {
	srv      *httptest.Server
	up       atomic.Bool
	mu       sync.Mutex          // guards the following fields
	issues   map[string]string   // key -> summary
	comments map[string][]string // key -> comment bodies
}

func newFoldJira(t *testing.T) *foldJira {
	j := &foldJira{issues: map[string]string{}, comments: map[string][]string{}}
	j.up.Store(true)
	j.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !j.up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		var body struct {
			Body   string `json:"body"`
			Fields struct {
				Summary string `json:"summary"`
			} `json:"fields"`
		}
		b, _ := io.ReadAll(req.Body)
		json.Unmarshal(b, &body)
		j.mu.Lock()
		defer j.mu.Unlock()
		switch rest := strings.TrimPrefix(req.URL.Path, "/rest/api/2/issue"); {
		case req.Method == http.MethodPost && rest == "":
			key := fmt.Sprint("SEC-", len(j.issues)+1)
			j.issues[key] = body.Fields.Summary
			json.NewEncoder(w).Encode(map[string]string{"key": key})
		case req.Method == http.MethodPost && strings.HasSuffix(rest, "/comment"):
			key := strings.TrimSuffix(strings.TrimPrefix(rest, "/"), "/comment")
			j.comments[key] = append(j.comments[key], body.Body)
			w.WriteHeader(http.StatusCreated)
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(j.srv.Close)
	return j
}

// foldHook is a generic webhook receiver checking each delivery's
// signature at the outbox's clock; it keeps the alert.update events.
type foldHook struct {
	srv     *httptest.Server
	mu      sync.Mutex       // guards the following fields
	updates map[string]Alert // delivery id -> alert
	opens   int
	bad     []string
}

func newFoldHook(t *testing.T, secret []byte, now func() time.Time) *foldHook {
	h := &foldHook{updates: map[string]Alert{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if err := VerifyWebhook(secret, req.Header, b, now(), 5*time.Minute); err != nil {
			h.bad = append(h.bad, err.Error())
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev struct {
			Event string `json:"event"`
			Alert Alert  `json:"alert"`
		}
		json.Unmarshal(b, &ev)
		switch ev.Event {
		case ActionOpen:
			h.opens++
		case ActionUpdate:
			h.updates[req.Header.Get(HeaderDelivery)] = ev.Alert
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// TestFoldedTicketToldAsTheFoldGrows: a folded alert is ticketed once,
// when it opens folding one group. Its tickets said "folded 1" for good
// while the alert folded hundreds. Each ticket is now told as the fold
// grows: a Jira comment, a signed alert.update to the webhook, through
// the outbox (queued on disk, retried while the sink is down, recorded in
// the trail), at most a minute after the ticket and then at twice the gap
// each time, up to an hour; a restart, from the trail or the snapshot,
// neither loses an update nor sends one again.
func TestFoldedTicketToldAsTheFoldGrows(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret-for-the-test")
	clock := &simClock{}
	base := time.Now().UTC().Truncate(time.Second)
	clock.set(base)
	jira, hook := newFoldJira(t), newFoldHook(t, secret, clock.now)
	sinks := []*Sink{{Name: "jira", Kind: "jira", URL: jira.srv.URL + "/rest/api/2/issue", Project: "SEC", secret: []byte("bot:token")},
		{Name: "hook", Kind: "webhook", URL: hook.srv.URL, secret: secret}}
	outDir := t.TempDir()
	var box atomic.Pointer[Outbox]
	r := newRigWith(t, examplePolicy(t), enqueueInto(t, &box))
	start := func() {
		t.Helper()
		o, err := NewOutbox(OutboxConfig{Dir: outDir, Sinks: sinks, Engine: r.eng, Key: r.key, Now: clock.now, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		box.Store(o)
		if err := o.Reconcile(); err != nil {
			t.Fatal(err)
		}
	}
	start()
	fold := noisyFolds(t, r, t0)
	deliver := func(at time.Duration) {
		t.Helper()
		clock.set(base.Add(at))
		box.Load().deliverDue(context.Background())
	}
	folded := func() Alert {
		t.Helper()
		for _, a := range r.eng.Alerts() {
			if a.Folded > 0 && a.Status != StatusClosed {
				return a
			}
		}
		t.Fatal("no folded alert")
		return Alert{}
	}
	// told returns the folded issue's comments and the webhook's updates
	// of the folded alert, by the number of groups they say it folds.
	told := func() (comments, updates []int64) {
		t.Helper()
		a := folded()
		var key string
		for _, tk := range a.Tickets {
			if tk.Sink == "jira" {
				key = tk.Key
			}
		}
		jira.mu.Lock()
		for _, c := range jira.comments[key] {
			var n int64
			if i := strings.Index(c, "it folds "); i >= 0 {
				fmt.Sscan(c[i+len("it folds "):], &n)
			}
			comments = append(comments, n)
		}
		jira.mu.Unlock()
		hook.mu.Lock()
		for i := 1; ; i++ {
			u, ok := hook.updates[fmt.Sprintf("%s.hook.fold.%d", a.ID, i)]
			if !ok {
				break
			}
			updates = append(updates, u.Folded)
		}
		if len(updates) != len(hook.updates) {
			t.Errorf("webhook updates %d, of which %d numbered in turn for %s", len(hook.updates), len(updates), a.ID)
		}
		if len(hook.bad) > 0 {
			t.Errorf("webhook refused deliveries: %q", hook.bad)
		}
		hook.mu.Unlock()
		return comments, updates
	}
	check := func(when string, want ...int64) {
		t.Helper()
		c, u := told()
		if fmt.Sprint(c) != fmt.Sprint(want) || fmt.Sprint(u) != fmt.Sprint(want) {
			t.Fatalf("%s (the alert folds %d): the folded issue's comments tell %v and the webhook's updates %v groups, want %v",
				when, folded().Folded, c, u, want)
		}
	}

	fold(maxOpenPerRule + 1) // 100 alerts and one folding one fingerprint
	deliver(0)
	if a := folded(); len(a.Tickets) != 2 || a.Folded != 1 {
		t.Fatalf("folded alert %+v, want folding 1 with a ticket at each sink", a)
	}
	fold(400)
	deliver(30 * time.Second)
	check("30 s after the ticket")
	deliver(time.Minute)
	check("a minute after the ticket", 401)
	deliver(time.Minute)
	check("again", 401)
	fold(100)
	deliver(time.Minute + 119*time.Second)
	check("1 min 59 s after the first update", 401)
	jira.up.Store(false)
	deliver(3 * time.Minute) // the webhook takes it; Jira is down: queued
	if c, u := told(); len(c) != 1 || len(u) != 2 {
		t.Fatalf("with Jira down: comments %v, updates %v; want one comment and two updates", c, u)
	}

	// A restart from the trail: the queued comment goes with the alert
	// as it is by then. (The engine gets a snapshot file from here on,
	// none written yet.)
	r.snap = true
	r.restart()
	if r.stats.Snapshot != 0 {
		t.Fatalf("restart started from a snapshot: %+v", r.stats)
	}
	jira.up.Store(true)
	start()
	fold(50)
	deliver(3*time.Minute + time.Second)
	if c, u := told(); fmt.Sprint(c) != "[401 551]" || fmt.Sprint(u) != "[401 501]" {
		t.Fatalf("after a restart: comments %v, updates %v; want [401 551] and [401 501]", c, u)
	}
	// A restart from the snapshot sends nothing again.
	if err := r.eng.WriteSnapshot(t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	r.restart()
	if r.stats.Snapshot == 0 {
		t.Fatalf("restart did not start from the snapshot: %+v", r.stats)
	}
	start()
	deliver(3*time.Minute + 2*time.Second)
	if c, u := told(); fmt.Sprint(c) != "[401 551]" || fmt.Sprint(u) != "[401 501]" {
		t.Fatalf("after a restart from the snapshot: comments %v, updates %v; want them unchanged", c, u)
	}

	// A storm that folds a group a minute for six hours: some ten updates
	// to each ticket, not 360, the last telling what the alert folds.
	for m := 4; m <= 6*60; m++ {
		fold(1)
		deliver(time.Duration(m) * time.Minute)
	}
	c, u := told()
	if len(c) > 12 || len(u) > 12 || len(c) < 8 {
		t.Errorf("six hours of folding: %d comments and %d updates, want 8 to 12 each", len(c), len(u))
	}
	if want := folded().Folded; c[len(c)-1] < want-60 {
		t.Errorf("the last comment tells %d groups, the alert folds %d", c[len(c)-1], want)
	}
	jira.mu.Lock()
	if len(jira.issues) != maxOpenPerRule+1 {
		t.Errorf("%d Jira issues, want %d: one per alert", len(jira.issues), maxOpenPerRule+1)
	}
	jira.mu.Unlock()
}

// noisyFolds returns a function that sends r's engine n Alertmanager
// alerts of new fingerprints, a second apart from t0 on, each a group the
// Alertmanager rule folds once 100 are open.
func noisyFolds(t *testing.T, r *rig, t0 time.Time) func(n int) {
	fp := 0
	return func(n int) {
		t.Helper()
		for range n {
			body := fmt.Sprintf(`{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"Noisy","severity":"warning"},"fingerprint":"fp%05d"}]}`, fp)
			if _, err := r.eng.Alertmanager([]byte(body), t0.Add(time.Duration(fp)*time.Second)); err != nil {
				t.Fatal(err)
			}
			fp++
		}
	}
}
