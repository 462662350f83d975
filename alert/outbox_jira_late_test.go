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
	"testing"
	"time"
)

// lateJira is a Jira on loopback speaking REST v2: POST /rest/api/2/issue
// creates an issue with its labels, and answers the first create only
// after the client has given up waiting (the issue is created all the
// same); search by JQL `labels = "…"` is the Cloud endpoint
// (/rest/api/2/search/jql; /rest/api/2/search is 410 Gone there) or the
// Data Center one (/rest/api/2/search; no /search/jql: 404).
type lateJira struct {
	srv   *httptest.Server
	cloud bool
	mu    sync.Mutex
	keys  []string
	label map[string][]string // label -> keys
}

func newLateJira(t *testing.T, cloud bool) *lateJira {
	j := &lateJira{cloud: cloud, label: map[string][]string{}}
	j.srv = httptest.NewServer(http.HandlerFunc(j.serve))
	t.Cleanup(j.srv.Close)
	return j
}

func (j *lateJira) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/rest/api/2/issue":
		var in struct {
			Fields struct {
				Labels []string `json:"labels"`
			} `json:"fields"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, `{"errorMessages":["bad json"]}`, http.StatusBadRequest)
			return
		}
		j.mu.Lock()
		key := "SEC-" + strconv.Itoa(len(j.keys)+1)
		j.keys = append(j.keys, key)
		for _, l := range in.Fields.Labels {
			j.label[l] = append(j.label[l], key)
		}
		first := len(j.keys) == 1
		j.mu.Unlock()
		if first {
			<-r.Context().Done() // created; answered after the client gave up
			return
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":"10000","key":"`+key+`","self":"`+j.srv.URL+`/rest/api/2/issue/10000"}`)
	case r.Method == http.MethodGet && (r.URL.Path == "/rest/api/2/search/jql" && j.cloud || r.URL.Path == "/rest/api/2/search" && !j.cloud):
		jql := r.URL.Query().Get("jql")
		l, ok := strings.CutPrefix(jql, `labels = "`)
		if !ok || !strings.HasSuffix(l, `"`) {
			http.Error(w, `{"errorMessages":["unsupported jql"]}`, http.StatusBadRequest)
			return
		}
		j.mu.Lock()
		keys := j.label[strings.TrimSuffix(l, `"`)]
		j.mu.Unlock()
		issues := []map[string]string{}
		for _, k := range keys {
			issues = append(issues, map[string]string{"id": "10000", "key": k})
		}
		json.NewEncoder(w).Encode(map[string]any{"issues": issues, "isLast": true})
	case r.URL.Path == "/rest/api/2/search" && j.cloud:
		http.Error(w, `{"errorMessages":["The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."]}`, http.StatusGone)
	default:
		http.Error(w, `{"errorMessages":["not found"]}`, http.StatusNotFound)
	}
}

// TestJiraLateAnswerFilesOneIssue: Jira creates the issue but answers
// after the client's timeout. The retry POSTed the alert again and Jira,
// which has no idempotency key, filed a second issue. Each issue now
// carries a label naming its delivery, and a retry after a failed
// create searches for it (JQL) before creating: the alert has one issue,
// the one Jira created first, on Jira Cloud and on Data Center.
func TestJiraLateAnswerFilesOneIssue(t *testing.T) {
	t.Parallel()
	for _, cloud := range []bool{true, false} {
		t.Run("cloud="+strconv.FormatBool(cloud), func(t *testing.T) {
			t.Parallel()
			j := newLateJira(t, cloud)
			sinks := []*Sink{{Name: "jira", Kind: "jira", URL: j.srv.URL + "/rest/api/2/issue", Project: "SEC", secret: []byte("bot@example.com:tok")}}
			r := newRig(t, examplePolicy(t))
			o, err := NewOutbox(OutboxConfig{Dir: t.TempDir(), Sinks: sinks, Engine: r.eng, Key: r.key,
				Client: &http.Client{Timeout: time.Second}, MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			r.send(every(t0, time.Second, 25, failed("acmehris1"))...)
			id := wantAlerts(t, r, "token-guessing-client", 1)[0].ID
			if err := o.Enqueue(wantAlerts(t, r, "token-guessing-client", 1)[0]); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); o.Run(ctx) }()
			defer func() { cancel(); <-done }()
			waitFor(t, "the alert's Jira ticket", func() bool { a, _ := r.eng.Alert(id); return hasTicket(&a, "jira") })
			a, _ := r.eng.Alert(id)
			j.mu.Lock()
			defer j.mu.Unlock()
			if len(j.keys) != 1 || a.Tickets[0].Key != "SEC-1" {
				t.Errorf("Jira issues %v, alert tickets %+v; want one issue, SEC-1, on the alert", j.keys, a.Tickets)
			}
		})
	}
}
