package alert

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"
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
	var mu sync.Mutex
	var notes []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &body)
		mu.Lock()
		notes = append(notes, body["work_notes"])
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	s := &Sink{Name: "snow", Kind: "servicenow", URL: srv.URL + "/api/now/table/incident", secret: []byte("u:p")}
	a := hostileAlert()
	a.Folded = 200
	a.Rule = "alertmanager:[code]<img src=x onerror=alert(1)>[/code]"
	a.FoldedKeys = []string{"[CODE]<script>alert(2)</script>[/Code]", "[ code ]<b>x</b>[/ code ]"}
	if err := s.tellFold(srv.Client(), a, "INC0010001/9d385017c611228701d22104cc95c371", 1, time.Now()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	tag := regexp.MustCompile(`(?i)\[\s*/?\s*code\s*\]`)
	if len(notes) != 1 || notes[0] == "" || tag.MatchString(notes[0]) {
		t.Errorf("servicenow work notes %q, want one holding no [code] tag", notes)
	}
}
