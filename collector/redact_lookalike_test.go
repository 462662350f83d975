package collector

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
)

// TestForeignLookalikeAndEncodedNamesRedacted: credentialKey read a key's
// bytes as they were, lowered: a foreign OTLP client's key that a reader
// takes for "password" or "Authorization" but is spelt otherwise was
// stored as sent, its value with it: fullwidth letters, a Cyrillic or
// Greek letter drawn as a Latin one, a zero-width space, a soft hyphen
// or a combining accent inside the name, or the name percent-encoded
// (once or twice), flat, as a map's member, and as a pair's name; through
// the OpenTelemetry Go SDK (protobuf) and OTLP JSON, where a \u escape
// in a key is the JSON decoder's to undo.
func TestForeignLookalikeAndEncodedNamesRedacted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startCollector(t, dir, newTestKey(t), StoreConfig{})
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetBody(attribute.MapValue(attribute.String("Ｐａｓｓｗｏｒｄ", "fullwidth-body-secret")))
	rec.AddAttributes(
		attribute.String("ｐａｓｓｗｏｒｄ", "fullwidth-secret"),
		attribute.String("http.request.header.Authorіzation", "cyrillic-i-secret"), // U+0456
		attribute.String("app.ΤΟΚΕΝ", "greek-capitals-secret"),
		attribute.String("pass\u200bword", "zero-width-secret"),
		attribute.String("Author\u00adization", "soft-hyphen-secret"),
		attribute.String("app.se\u0301cret", "combining-accent-secret"),
		attribute.String("pass\ufe0fword", "variation-selector-secret"),
		attribute.String("pass%77ord", "percent-secret"),
		attribute.String("%41uthorization", "percent-initial-secret"),
		attribute.String("%2541pi_key", "twice-encoded-secret"),
		attribute.Map("headers", attribute.String("Сookie", "cyrillic-es-secret")), // U+0421
		attribute.Slice("app.pairs", attribute.MapValue(attribute.String("name", "x-аpi-key"), attribute.String("value", "pair-secret"))),
		attribute.String("app.note", "login pаssword=in-text-secret ok"),
	)
	emitForeign(t, srv.URL, rec)
	body := []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"` +
		strconv.FormatInt(time.Now().UnixNano(), 10) + `","attributes":[` +
		`{"key":"pass\u0077ord","value":{"stringValue":"json-escape-secret"}},` +
		`{"key":"pass\u200bword.raw","value":{"stringValue":"json-zero-width-secret"}}` +
		`]}]}]}]}`)
	if code := postJSONAs(t, srv.URL, testToken, body); code != http.StatusOK {
		t.Fatalf("OTLP JSON batch: %d, want 200", code)
	}
	st.Close()
	if recs := storedRecords(t, dir); len(recs) != 2 {
		t.Fatalf("stored %d records, want 2", len(recs))
	}
	storeHoldsNone(t, dir, "fullwidth-body-secret", "fullwidth-secret", "cyrillic-i-secret", "greek-capitals-secret",
		"zero-width-secret", "soft-hyphen-secret", "combining-accent-secret", "variation-selector-secret",
		"percent-secret", "percent-initial-secret", "twice-encoded-secret", "cyrillic-es-secret", "pair-secret",
		"in-text-secret", "json-escape-secret", "json-zero-width-secret")
}
