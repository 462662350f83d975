package collector

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
)

// TestForeignCredentialsInMapsOfKnownFieldsRedacted: a foreign OTLP
// client's map under an attribute the collector maps to a field of its
// own (user_agent.original, url.path, http.route, ...) was rendered
// without the redaction of credential keys its foreign attributes and
// body get, so {"authorization": ...} there was stored as sent; through
// both intakes (protobuf from the OpenTelemetry Go SDK, and OTLP JSON).
func TestForeignCredentialsInMapsOfKnownFieldsRedacted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startCollector(t, dir, newTestKey(t), StoreConfig{})
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.AddAttributes(
		attribute.Map("user_agent.original", attribute.String("Authorization", "opaque-ua-token")),
		attribute.Map("http.route", attribute.String("password", "hunter4")),
	)
	emitForeign(t, srv.URL, rec)
	body := []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"` +
		strconv.FormatInt(time.Now().UnixNano(), 10) + `","attributes":[` +
		`{"key":"url.path","value":{"kvlistValue":{"values":[{"key":"x-api-key","value":{"stringValue":"opaque-json-key"}}]}}},` +
		`{"key":"portcullis.client","value":{"arrayValue":{"values":[{"kvlistValue":{"values":[{"key":"SECRET","value":{"stringValue":"shh-json"}}]}}]}}}` +
		`]}]}]}]}`)
	if code := postJSONAs(t, srv.URL, testToken, body); code != http.StatusOK {
		t.Fatalf("OTLP JSON batch: %d, want 200", code)
	}
	st.Close()
	if recs := storedRecords(t, dir); len(recs) != 2 {
		t.Fatalf("stored %d records, want 2", len(recs))
	}
	storeHoldsNone(t, dir, "opaque-ua-token", "hunter4", "opaque-json-key", "shh-json")
}
