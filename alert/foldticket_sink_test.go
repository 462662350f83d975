package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// A ServiceNow ticket key is NUMBER/SYS_ID, and the sys_id goes into
// the URL's path of the update of a folded alert's ticket (PATCH
// .../incident/{sys_id}). A closure refuses a sys_id that is not one
// plain path segment (TestCloseRefusesTicketKeyOutsideOnePathSegment);
// the update sent it as it was: "INC1/.." moved the PATCH, with the
// sink's credential, to the table API itself, "INC1/x?sysparm_query=..."
// added a query. Such a ticket is now told nothing, and nothing is sent.
func TestFoldUpdateRefusesServiceNowKeyOutsideOnePathSegment(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.RequestURI())
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	s := &Sink{Name: "snow", Kind: "servicenow", URL: srv.URL + "/api/now/table/incident", secret: []byte("u:p")}
	a := hostileAlert()
	a.Folded = 200
	for _, key := range []string{"INC1/..", "INC1/x?sysparm_query=active=true", "INC1/x#y", "INC1/"} {
		if s.updates(key) {
			t.Errorf("servicenow updates(%q) = true, want false: its sys_id is not one path segment", key)
		}
		if err := s.tellFold(srv.Client(), a, key, 1, time.Now()); err == nil {
			t.Errorf("servicenow update of ticket %q: no error, want a refusal", key)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 0 {
		t.Errorf("updates sent for refused keys: %q", paths)
	}
}

// The update of a folded alert's ServiceNow ticket is a work note, a
// journal field, in which ServiceNow renders what stands between [code]
// and [/code] as HTML (the incident's description, which the ticket
// gets, is plain text). The alert's text comes from outside (a record's
// source, an Alertmanager alert's name or fingerprint), so an outsider's
// [code]<img src=x onerror=...>[/code] ran in the browser of whoever read
// the incident. The tags are now broken up, as {noformat} is in Jira.
func TestFoldUpdateServiceNowWorkNoteHoldsNoCodeTag(t *testing.T) {
	t.Parallel()
	srv, got := fieldServer(t, "work_notes", func(string) int { return http.StatusOK })
	s := &Sink{Name: "snow", Kind: "servicenow", URL: srv.URL + "/api/now/table/incident", secret: []byte("u:p")}
	a := hostileAlert()
	a.Folded = 200
	a.Rule = "alertmanager:[code]<img src=x onerror=alert(1)>[/code]"
	a.FoldedKeys = []string{"[CODE]<script>alert(2)</script>[/Code]", "[ code ]<b>x</b>[/ code ]"}
	if err := s.tellFold(srv.Client(), a, "INC0010001/9d385017c611228701d22104cc95c371", 1, time.Now()); err != nil {
		t.Fatal(err)
	}
	notes := got()
	tag := regexp.MustCompile(`(?i)\[\s*/?\s*code\s*\]`)
	if len(notes) != 1 || notes[0] == "" || tag.MatchString(notes[0]) {
		t.Errorf("servicenow work notes %q, want one holding no [code] tag", notes)
	}
}

// Each update of a folded alert's ticket carried the whole alert as text,
// its history with it, and that history gains a line with every update
// told to every sink: some 50 a day for two sinks while an attack folds
// on, plus the 20 folded groups an outsider names (256 bytes each). Jira
// refuses a comment past 32,767 characters (400), for good: the update
// was retried every few minutes for as long as the alert stayed open and
// the ticket never told again. The update now leaves out the lines the
// ticket has as its comments and is cut well short of Jira's limit.
func TestFoldUpdateFitsJiraCommentLimit(t *testing.T) {
	t.Parallel()
	srv, got := fieldServer(t, "body", func(v string) int {
		if utf8.RuneCountInString(v) > 32767 { // Jira: "The entered text is too long."
			return http.StatusBadRequest
		}
		return http.StatusCreated
	})
	s := &Sink{Name: "jira", Kind: "jira", URL: srv.URL + "/rest/api/2/issue", Project: "SEC", secret: []byte("u:p")}
	long := strings.Repeat("{noformat}é", 256/12)
	a := &Alert{ID: "alert-20261201T090000Z-0a1b2c3d", Rule: "alertmanager:" + long, Kind: "alertmanager", Severity: "high",
		Group: "fingerprint", Key: foldKey, Tenant: long, Count: 90000, Folded: 9000}
	for i := range maxFoldedKeys {
		a.FoldedKeys = append(a.FoldedKeys, fmt.Sprint(i, long))
	}
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	a.History = append(a.History, Change{Time: at, Action: ActionTicket, Actor: "collector", Reason: "ticket SEC-1 at sink jira",
		Details: map[string]string{"sink": "jira", "ticket": "SEC-1"}})
	for i := range 400 {
		sink := []string{"jira", "hook"}[i%2]
		a.History = append(a.History, Change{Time: at.Add(time.Duration(i) * time.Hour), Action: ActionTicketUpdate, Actor: "collector",
			Reason:  fmt.Sprintf("ticket SEC-1 at sink %s told the alert folds %d groups", sink, 100+i*20),
			Details: map[string]string{"sink": sink, "ticket": "SEC-1", "update": updateFolded, "folded": fmt.Sprint(100 + i*20)}})
	}
	a.History = append(a.History, Change{Time: at.Add(500 * time.Hour), Action: ActionAck, Actor: "alice", Reason: "looking"})
	if err := s.tellFold(srv.Client(), a, "SEC-1", 201, at.Add(501*time.Hour)); err != nil {
		t.Fatalf("update of a folded alert 400 updates old: %v", err)
	}
	comments := got()
	if len(comments) != 1 || !strings.Contains(comments[0], "folds 9000") || !strings.Contains(comments[0], "alert.ack") {
		t.Errorf("comments %d, want one telling the fold (9000) and the ack", len(comments))
	}
}

// A ticket that refuses its updates for good (a Jira issue deleted since,
// 404; a GitHub issue deleted, 410, or locked, 403) had the update retried
// at the outbox's longest backoff for as long as the folded alert stayed
// open: a request every few minutes, where the doubling gaps allow some
// ten in six hours, and a failure logged each time. A refusal now counts
// as an update told (recorded as refused), so the next waits its gap.
func TestFoldUpdateRefusedForGoodWaitsItsGap(t *testing.T) {
	t.Parallel()
	clock := &simClock{}
	base := time.Now().UTC().Truncate(time.Second)
	clock.set(base)
	var refused, issues atomic.Int64
	jira := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/rest/api/2/issue":
			json.NewEncoder(w).Encode(map[string]string{"key": fmt.Sprint("SEC-", issues.Add(1))})
		case strings.HasSuffix(r.URL.Path, "/comment"):
			refused.Add(1)
			http.Error(w, `{"errorMessages":["Issue does not exist or you do not have permission to see it."]}`, http.StatusNotFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer jira.Close()
	sinks := []*Sink{{Name: "jira", Kind: "jira", URL: jira.URL + "/rest/api/2/issue", Project: "SEC", secret: []byte("bot:token")}}
	outDir := t.TempDir()
	var box atomic.Pointer[Outbox]
	r := newRigWith(t, examplePolicy(t), enqueueInto(t, &box))
	o, err := NewOutbox(OutboxConfig{Dir: outDir, Sinks: sinks, Engine: r.eng, Key: r.key, Now: clock.now, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Minute,
		OnError: func(error) {}})
	if err != nil {
		t.Fatal(err)
	}
	box.Store(o)
	fold := noisyFolds(t, r, t0)
	fold(maxOpenPerRule + 1)
	o.deliverDue(context.Background())
	for s := 1; s <= 6*60*6; s++ { // every 10 s for six hours, a group a minute
		if s%6 == 0 {
			fold(1)
		}
		clock.set(base.Add(time.Duration(s) * 10 * time.Second))
		o.deliverDue(context.Background())
	}
	if n := refused.Load(); n > 12 || n < 5 {
		t.Errorf("six hours of a deleted issue: %d comments refused, want 5 to 12 (the doubling gaps)", n)
	}
	var refusals int
	for _, a := range r.eng.Alerts() {
		for _, c := range a.History {
			if c.Action == ActionTicketUpdate && c.Details["refused"] != "" {
				refusals++
			}
		}
	}
	if int64(refusals) != refused.Load() {
		t.Errorf("the trail records %d refused updates, the sink refused %d", refusals, refused.Load())
	}
}

// A collector that died after the trail recorded an update and before it
// removed the queued file found the file at its restart and, the alert
// having folded more since, sent it at once: a second update right after
// the first, its gap not waited. A queued update whose gap has not passed
// since the last one the trail records is now dropped; it is queued again
// when due.
func TestFoldUpdateLeftQueuedByACrashWaitsItsGap(t *testing.T) {
	t.Parallel()
	clock := &simClock{}
	base := time.Now().UTC().Truncate(time.Second)
	clock.set(base)
	jira := newFoldJira(t)
	sinks := []*Sink{{Name: "jira", Kind: "jira", URL: jira.srv.URL + "/rest/api/2/issue", Project: "SEC", secret: []byte("bot:token")}}
	outDir := t.TempDir()
	var box atomic.Pointer[Outbox]
	r := newRigWith(t, examplePolicy(t), enqueueInto(t, &box))
	o, err := NewOutbox(OutboxConfig{Dir: outDir, Sinks: sinks, Engine: r.eng, Key: r.key, Now: clock.now, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	box.Store(o)
	fold := noisyFolds(t, r, t0)
	comments := func() int {
		jira.mu.Lock()
		defer jira.mu.Unlock()
		n := 0
		for _, c := range jira.comments {
			n += len(c)
		}
		return n
	}
	fold(maxOpenPerRule + 1)
	o.deliverDue(context.Background())
	fold(10)
	clock.set(base.Add(time.Minute))
	var a Alert
	for _, x := range r.eng.FoldedAlerts() {
		a = x
	}
	o.foldDue(clock.now()) // queued: the file the crash leaves
	b, err := os.ReadFile(o.foldPath(a.ID, "jira", a.Tickets[0].Key))
	if err != nil {
		t.Fatal(err)
	}
	o.deliverDue(context.Background())
	if n := comments(); n != 1 {
		t.Fatalf("%d comments a minute after the ticket, want 1", n)
	}
	if err := os.WriteFile(o.foldPath(a.ID, "jira", a.Tickets[0].Key), b, 0o600); err != nil { // recorded, not removed: the crash
		t.Fatal(err)
	}
	fold(10)
	o2, err := NewOutbox(OutboxConfig{Dir: outDir, Sinks: sinks, Engine: r.eng, Key: r.key, Now: clock.now, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	box.Store(o2)
	clock.set(base.Add(time.Minute + 10*time.Second))
	o2.deliverDue(context.Background())
	if n := comments(); n != 1 {
		t.Errorf("%d comments 10 s after the first update (a restart found it queued), want 1: the next is due 2 min after it", n)
	}
	clock.set(base.Add(3*time.Minute + time.Second))
	o2.deliverDue(context.Background())
	o2.deliverDue(context.Background())
	if n := comments(); n != 2 {
		t.Errorf("%d comments 2 min after the first update, want 2", n)
	}
}

// fieldServer stands for a ticket system on loopback: it answers each
// JSON request with the status answer gives for its field's value, and
// got returns the values it took (answered 2xx), in order.
func fieldServer(t *testing.T, field string, answer func(v string) int) (srv *httptest.Server, got func() []string) {
	var mu sync.Mutex
	var took []string
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &body)
		code := answer(body[field])
		if code/100 == 2 {
			mu.Lock()
			took = append(took, body[field])
			mu.Unlock()
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), took...)
	}
}
