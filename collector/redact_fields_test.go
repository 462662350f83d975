package collector

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"

	"github.com/portcullis/portcullis/audit"
)

// TestCredentialsInRequestFieldsRedacted: the path, user agent and
// request id of a record are what the client of the API sent, whoever
// recorded them. A foreign OTLP client (the OpenTelemetry Go SDK over
// HTTP) logging a magic link's JWT in url.path, and a client's
// Authorization value in user_agent.original, had them stored as sent:
// only foreign attributes and bodies were cleared, and these names are
// the record's own fields. A sidecar's record of a request whose path
// held an API key (GET /v1/users/pk_<id>_<secret>, a key pasted into a
// URL) was stored so too. The trail cannot be edited afterwards without
// breaking its chain, so the secret stayed for the whole retention. They
// are now cleared as foreign text is (credential.Redact), with the key id
// kept.
func TestCredentialsInRequestFieldsRedacted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startCollector(t, dir, newTestKey(t), StoreConfig{})
	const (
		jwt    = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz"
		apiKey = "pk_acmehris1_DemoAcmeHrisSecret000000000000000001"
		opaque = "ya29.a0AfH6SMBx-opaque_token"
	)
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.AddAttributes(
		attribute.String(audit.AttrPath, "/login/magic/"+jwt),
		attribute.String(audit.AttrUserAgent, "scripted/1.0 (Authorization: Bearer "+opaque+")"),
		attribute.String(audit.AttrRequestID, "Bearer "+opaque),
	)
	emitForeign(t, srv.URL, rec)
	var r audit.Record
	r.Time = time.Now().UnixNano()
	r.Status, r.Decision, r.Route = 404, audit.NoRoute, "-"
	r.SetMethod([]byte("GET"))
	r.SetPath([]byte("/v1/users/" + apiKey))
	body := audit.EncodeBatch(nil, audit.Resource{Service: "svc", Host: "h", InstanceID: "sidecar-1"}, "sidecar-1-1", r)
	// A sidecar now masks the key as it records it (audit's
	// credential.Mask); the batch is made one of a sidecar from before
	// that, the key put back in place of its mask, of the same length.
	masked := []byte("/v1/users/pk_acmehris1_" + strings.Repeat("*", len(apiKey)-len("pk_acmehris1_")))
	if !bytes.Contains(body, masked) {
		t.Fatalf("the encoded batch lacks the masked path %q", masked)
	}
	body = bytes.Replace(body, masked, []byte("/v1/users/"+apiKey), 1)
	if code := postStatus(srv.URL, testToken, body); code != 200 {
		t.Fatalf("sidecar batch: status %d, want 200", code)
	}
	st.Close()
	recs := storedRecords(t, dir)
	if len(recs) != 2 {
		t.Fatalf("stored %d records, want 2", len(recs))
	}
	want := []struct{ path, ua, id string }{
		{"/login/magic/" + Redacted, "scripted/1.0 (Authorization: Bearer " + Redacted + ")", "Bearer " + Redacted},
		{"/v1/users/pk_acmehris1_" + Redacted, "", ""},
	}
	for i, w := range want {
		if got := recs[i]; got.Path != w.path || got.UserAgent != w.ua || got.RequestID != w.id {
			t.Errorf("record %d stored path %q, user agent %q, request id %q; want %q, %q, %q", i, got.Path, got.UserAgent, got.RequestID, w.path, w.ua, w.id)
		}
	}
	storeHoldsNone(t, dir, opaque, "c2lnbmF0dXJlLWJ5dGVz", "DemoAcmeHrisSecret")
}
