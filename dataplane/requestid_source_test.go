package dataplane

import (
	"strings"
	"testing"
)

// TestRequestIDSourceAudited: a client may send as X-Request-ID an id of
// another sidecar's shape (services pass them on) and it is kept, so the
// id alone does not tell an auditor who made it. The record says
// request_id_source "client" for an id kept from the client, and nothing
// for one this sidecar made.
func TestRequestIDSourceAudited(t *testing.T) {
	st := startStack(t, nil)
	r := do(t, st.addr, "GET", "/v1/users/42", key(hrisKey), "")
	made := r.header.Get("X-Request-Id")
	if r.status != 200 || len(made) != genIDLen {
		t.Fatalf("status %d, request id %q: want 200 and an id the sidecar made", r.status, made)
	}
	if rec := st.sink.withRequestID(t, made); strings.Contains(string(rec.AppendJSON(nil)), "request_id_source") {
		t.Errorf("the record of an id this sidecar made names a source: %s", rec.AppendJSON(nil))
	}
	other := "0123abcd-" + made[9:] // another sidecar's prefix, as a service passes it on
	if other[:9] == made[:9] {
		other = "4567cdef-" + made[9:]
	}
	for _, id := range []string{other, "3f2b8c1e-9d4a-4e7b-8a6f-0c5d2e1b7a93"} {
		r = do(t, st.addr, "GET", "/v1/users/42", map[string]string{"X-API-Key": hrisKey, "X-Request-ID": id}, "")
		if r.header.Get("X-Request-Id") != id {
			t.Fatalf("id %q not kept: answer %q", id, r.header.Get("X-Request-Id"))
		}
		rec := st.sink.withRequestID(t, id)
		if line := string(rec.AppendJSON(nil)); !strings.Contains(line, `"request_id":"`+id+`","request_id_source":"client"`) {
			t.Errorf("the record of the client's id %q does not say so: %s", id, line)
		}
	}
}
