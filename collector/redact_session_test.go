package collector

import (
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
)

// TestForeignSessionIDsRedacted: a session's id is a credential (whoever
// holds it is logged in, as the cookie's owner), but credentialKey named
// none of a session's: a foreign OTLP client's "session", "session_id",
// JSESSIONID, PHPSESSID, connect.sid, a Rails or Laravel session cookie,
// OpenTelemetry's session.id, or a CSRF token's "csrf" or "_xsrf" were
// stored as sent, flat and as a map's member.
func TestForeignSessionIDsRedacted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startCollector(t, dir, newTestKey(t), StoreConfig{})
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetBody(attribute.MapValue(attribute.String("session", "body-session-secret"), attribute.Int("session_count", 3)))
	rec.AddAttributes(
		attribute.String("session", "plain-session-secret"),
		attribute.String("app.session_id", "session-id-secret"),
		attribute.String("sessionid", "django-secret"),
		attribute.String("sid", "sid-secret"),
		attribute.String("http.request.cookie.JSESSIONID", "java-secret"),
		attribute.String("PHPSESSID", "php-secret"),
		attribute.String("connect.sid", "express-secret"),
		attribute.String("ASP.NET_SessionId", "aspnet-secret"),
		attribute.String("laravel_session", "laravel-secret"),
		attribute.String("session.id", "otel-session-secret"),
		attribute.String("session.previous_id", "otel-previous-secret"),
		attribute.String("x-session-id", "header-session-secret"),
		attribute.String("csrf", "csrf-secret"),
		attribute.String("_xsrf", "xsrf-secret"),
		attribute.Map("user", attribute.String("session", "nested-session-secret"), attribute.String("name", "alice")),
		attribute.Int("session.count", 7),
		attribute.String("session.duration", "35m"),
	)
	emitForeign(t, srv.URL, rec)
	st.Close()
	recs := storedRecords(t, dir)
	if len(recs) != 1 {
		t.Fatalf("stored %d records, want 1", len(recs))
	}
	if got := recs[0].Attributes; got["session.count"] != "7" || got["session.duration"] != "35m" {
		t.Errorf("session.count stored as %q, session.duration as %q; want them as sent", got["session.count"], got["session.duration"])
	}
	storeHoldsNone(t, dir, "body-session-secret", "plain-session-secret", "session-id-secret", "django-secret", "sid-secret",
		"java-secret", "php-secret", "express-secret", "aspnet-secret", "laravel-secret", "otel-session-secret",
		"otel-previous-secret", "header-session-secret", "csrf-secret", "xsrf-secret", "nested-session-secret")
}
