package dataplane

import (
	"strings"
	"testing"
	"time"
)

// A request served by the fasthttp server is timed from the server's own
// arrival reading (Server.arrival): the audit time falls inside the
// exchange and the duration covers the upstream's delay.
func TestAuditTimesComeFromArrival(t *testing.T) {
	st := startStack(t, nil)
	st.up.delay = 20 * time.Millisecond
	before := time.Now().UnixNano()
	if r := do(t, st.addr, "GET", "/v1/users/42", key(hrisKey), ""); r.status != 200 {
		t.Fatalf("got %d %s, want 200", r.status, r.body)
	}
	after := time.Now().UnixNano()
	rec := st.sink.last(t)
	if rec.Time < before || rec.Time > after {
		t.Errorf("audit time %d outside the exchange [%d, %d]", rec.Time, before, after)
	}
	if d := time.Duration(rec.Duration); d < st.up.delay || rec.Time+rec.Duration > after {
		t.Errorf("audit duration %v: want at least the upstream's %v, ending by the reply", d, st.up.delay)
	}
}

// Nothing secret reaches an audit record: send canaries in every place a
// secret could travel and look for them in the records.
func TestAuditHoldsNoSecrets(t *testing.T) {
	st := startStack(t, nil)
	canary := "CANARYsecret0123456789abcdefghijklmnop"
	do(t, st.addr, "GET", "/v1/users?token="+canary, map[string]string{"X-API-Key": hrisKey, "Cookie": "session=" + canary}, "")
	do(t, st.addr, "POST", "/v1/records?k="+canary, map[string]string{"Authorization": "Bearer pk_acmehris1_" + canary}, canary)
	do(t, st.addr, "GET", "/v1/users", map[string]string{"X-API-Key": "pk_canaryid1_" + canary}, "")
	for _, r := range st.sink.recs {
		line := string(r.AppendJSON(nil))
		if strings.Contains(line, canary) || strings.Contains(line, "DemoAcmeHris") {
			t.Errorf("audit record leaks a secret: %s", line)
		}
	}
	if len(st.sink.recs) != 3 {
		t.Errorf("got %d records, want 3", len(st.sink.recs))
	}
}
