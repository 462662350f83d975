package collector

import (
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
)

// A foreign OTLP client's structured log (here the OpenTelemetry Go SDK,
// over HTTP to the intake) holds its credentials in maps as often as in
// flat attributes: a body {"password": ...}, an attribute "db" of
// {"password": ...}, one of the request's headers {"authorization": ...,
// "cookie": ...}. The key of a credential was cleared only when it was the
// attribute's own ("db.password"); under a map it was stored as sent, a
// password or an opaque token in a trail that cannot be edited afterwards.
// A map's member whose key names a credential is now cleared as the
// attribute of that key is, whatever its depth, in the body and in the
// attributes; the rest stays as sent.
func TestForeignCredentialsInMapsRedacted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startCollector(t, dir, newTestKey(t), StoreConfig{})
	var rec otellog.Record
	rec.SetTimestamp(time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC))
	rec.SetBody(attribute.MapValue(attribute.String("user", "alice"), attribute.String("password", "hunter2"),
		attribute.Map("upstream", attribute.String("x-api-token", "opaque-body-token"), attribute.Int("attempt", 3))))
	rec.AddAttributes(
		attribute.Map("http.request.headers", attribute.String("authorization", "opaque-header-token"), attribute.String("cookie", "sid=s3cr3t"), attribute.String("accept", "text/plain")),
		attribute.Map("db", attribute.String("user", "svc"), attribute.String("password", "hunter3")),
		attribute.Slice("app.calls", attribute.MapValue(attribute.String("client_secret", "shh-nested"))),
	)
	emitForeign(t, srv.URL, rec)
	st.Close()
	recs := storedRecords(t, dir)
	if len(recs) != 1 {
		t.Fatalf("stored %d records, want 1", len(recs))
	}
	got := recs[0]
	for _, kept := range []string{`"alice"`, `"attempt"`, `"accept"`, `"text/plain"`, `"svc"`, Redacted} {
		if !strings.Contains(got.Body+got.Attributes["http.request.headers"]+got.Attributes["db"]+got.Attributes["app.calls"], kept) {
			t.Errorf("%s not kept: body %s, attributes %v", kept, got.Body, got.Attributes)
		}
	}
	storeHoldsNone(t, dir, "hunter2", "hunter3", "opaque-body-token", "opaque-header-token", "s3cr3t", "shh-nested")
}
