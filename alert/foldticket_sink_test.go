package alert

import (
	"net/http"
	"net/http/httptest"
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
