package dataplane

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/audit"
)

// A request whose path is longer than the audit record holds is recorded
// with the path cut and marked (audit.PathCut), over a real socket; the
// upstream gets the whole path. Before, the record held the first 256
// bytes as if they were the path served.
func TestLongPathRecordedCut(t *testing.T) {
	st := startStack(t, nil)
	path := "/v1/users/" + strings.Repeat("7", 400)
	if r := do(t, st.addr, "GET", path, map[string]string{"X-API-Key": hrisKey}, ""); r.status != 200 {
		t.Fatalf("got %d %s, want 200", r.status, r.body)
	}
	if got := st.up.received()[0].uri; got != path {
		t.Errorf("upstream got %d bytes of path, want the %d sent", len(got), len(path))
	}
	rec := st.sink.last(t)
	want := path[:audit.MaxPath-len(audit.PathCut)] + audit.PathCut
	if got := string(rec.Path()); got != want || rec.Route != "/v1/users/{id}" {
		t.Errorf("audit path %q (route %q), want %q", got, rec.Route, want)
	}
}
