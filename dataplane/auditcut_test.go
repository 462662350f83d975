package dataplane

import (
	"strings"
	"testing"
)

// Finding (review75): the audit record masks an API key's secret in the
// path and the user agent it keeps (credential.Mask), but only a secret
// of at least 16 characters, and it masked after cutting the path to 256
// bytes and the user agent to 128: a key whose secret the cut left
// shorter than that was kept, so up to 15 characters of a client's secret
// reached the trail, the collector and the evidence pack.

// TestCutKeyInAuditRecordMasked sends, over a real socket, a request
// whose path and user agent hold the client's own key placed so that the
// record's cut leaves ten characters of its secret: none of them is in
// the record.
func TestCutKeyInAuditRecordMasked(t *testing.T) {
	st, _ := startRecorded(t, nil)
	const keep = 10 // characters of the secret before each cut
	prefix, secret := hrisKey[:len("pk_acmehris1_")], hrisKey[len("pk_acmehris1_"):]
	path := "/v1/users/" + strings.Repeat("a", 253-len("/v1/users/")-len(prefix)-keep) + hrisKey
	ua := strings.Repeat("b", 128-len(prefix)-keep) + hrisKey
	r := raw(t, st.addr, "GET "+path+" HTTP/1.1\r\nHost: svc\r\nX-API-Key: "+hrisKey+"\r\nUser-Agent: "+ua+"\r\nConnection: close\r\n\r\n")
	if r.status != 200 {
		t.Fatalf("got %d %s, want 200", r.status, r.body)
	}
	rec := st.sink.withRequestID(t, r.header.Get("X-Request-Id"))
	if p := string(rec.Path()); strings.Contains(p, secret[:keep]) {
		t.Errorf("the audit record's path ends %q: %d characters of the key's secret", p[len(p)-30:], keep)
	}
	if u := string(rec.UserAgent()); strings.Contains(u, secret[:keep]) {
		t.Errorf("the audit record's user agent ends %q: %d characters of the key's secret", u[len(u)-30:], keep)
	}
}
