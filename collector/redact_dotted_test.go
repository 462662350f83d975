package collector

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
)

// TestForeignCredentialsUnderDottedKeysRedacted: the key of a credential
// was read after its last '.' only, so a foreign OTLP client flattening
// {"password": {"value": ...}} into "password.value", an array of
// secrets into "secret.0", or a header's parts into
// "http.request.header.authorization.value" had each stored as sent, in
// the attributes and in a map's members alike. A key any part of which
// names a credential is now cleared, as a map under that name is; keys
// that name none stay as sent. Through the OpenTelemetry Go SDK and the
// OTLP JSON intake, over loopback.
func TestForeignCredentialsUnderDottedKeysRedacted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startCollector(t, dir, newTestKey(t), StoreConfig{})
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetBody(attribute.MapValue(attribute.String("db.password.value", "hunter5"), attribute.String("user.name", "alice")))
	rec.AddAttributes(
		attribute.String("password.value", "hunter6"),
		attribute.String("http.request.header.authorization.value", "opaque-dotted-token"),
		attribute.String("secret.0", "shh-indexed"),
		attribute.String("app.access_token.raw", "opaque-raw-token"),
		attribute.String("headers[Authorization]", "opaque-bracket-token"),
		attribute.Map("app", attribute.String("api_key.primary", "opaque-nested-key")),
		attribute.String("app.feature", "sso"),
		attribute.Int("gen_ai.usage.input_tokens", 42),
		attribute.String("http.request.header.accept.value", "text/plain"),
	)
	emitForeign(t, srv.URL, rec)
	body := []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"` +
		strconv.FormatInt(time.Now().UnixNano(), 10) + `","attributes":[` +
		`{"key":"cookie.0","value":{"stringValue":"sid=json-s3cr3t"}},` +
		`{"key":"app.calls","value":{"kvlistValue":{"values":[{"key":"client_secret.value","value":{"stringValue":"shh-json-dotted"}}]}}}` +
		`]}]}]}]}`)
	if code := postJSONAs(t, srv.URL, testToken, body); code != http.StatusOK {
		t.Fatalf("OTLP JSON batch: %d, want 200", code)
	}
	st.Close()
	recs := storedRecords(t, dir)
	if len(recs) != 2 {
		t.Fatalf("stored %d records, want 2", len(recs))
	}
	got := recs[0]
	for k, v := range map[string]string{"app.feature": "sso", "gen_ai.usage.input_tokens": "42", "http.request.header.accept.value": "text/plain", "password.value": Redacted} {
		if got.Attributes[k] != v {
			t.Errorf("attribute %s stored as %q, want %q", k, got.Attributes[k], v)
		}
	}
	if !strings.Contains(got.Body, `"alice"`) {
		t.Errorf("body %s: user.name's value not kept", got.Body)
	}
	storeHoldsNone(t, dir, "hunter5", "hunter6", "opaque-dotted-token", "shh-indexed", "opaque-raw-token", "opaque-bracket-token",
		"opaque-nested-key", "json-s3cr3t", "shh-json-dotted")
}

// TestForeignHeaderPairsRedacted: headers logged as a list of pairs,
// [{"name": "Authorization", "value": "..."}] (or "key" and "value"), as
// HTTP libraries and log shippers shape them, were cleared only where
// the value had a credential's shape (a Bearer value, a JWT): an opaque
// token or a cookie was stored as sent, its key being "value". The value
// of a pair whose name names a credential is now cleared, at any depth,
// in the body and the attributes; other pairs stay as sent.
func TestForeignHeaderPairsRedacted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startCollector(t, dir, newTestKey(t), StoreConfig{})
	pair := func(nameKey, name, valueKey, value string) attribute.Value {
		return attribute.MapValue(attribute.String(nameKey, name), attribute.String(valueKey, value))
	}
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetBody(attribute.MapValue(attribute.Slice("request.headers",
		pair("name", "X-Api-Key", "value", "opaque-body-key"),
		pair("name", "Accept", "value", "text/html"))))
	rec.AddAttributes(
		attribute.Slice("http.request.headers",
			pair("name", "Authorization", "value", "opaque-pair-token"),
			pair("Key", "Cookie", "Value", "sid=pair-s3cr3t"),
			attribute.MapValue(attribute.String("name", "Set-Cookie"), attribute.Slice("values", attribute.StringValue("sid=multi-s3cr3t"))),
			pair("name", "User-Agent", "value", "curl/8.5"),
		),
	)
	emitForeign(t, srv.URL, rec)
	st.Close()
	recs := storedRecords(t, dir)
	if len(recs) != 1 {
		t.Fatalf("stored %d records, want 1", len(recs))
	}
	got := recs[0]
	for _, kept := range []string{`"Authorization"`, `"curl/8.5"`, `"text/html"`, `"Set-Cookie"`, Redacted} {
		if !strings.Contains(got.Body+got.Attributes["http.request.headers"], kept) {
			t.Errorf("%s not kept: body %s, attributes %v", kept, got.Body, got.Attributes)
		}
	}
	storeHoldsNone(t, dir, "opaque-body-key", "opaque-pair-token", "pair-s3cr3t", "multi-s3cr3t")
}

// TestForeignArrayPairsRedacted: headers logged as arrays of
// [name, value] arrays, or one flat [name, value, name, value] array (as
// Node's rawHeaders), or as pairs spelled "header" and "val", had an
// opaque value stored as sent: only {"name"|"key": ..., "value": ...}
// pairs were read. The element after a string naming a credential, at an
// even index of an array, is now cleared, and those spellings read.
func TestForeignArrayPairsRedacted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startCollector(t, dir, newTestKey(t), StoreConfig{})
	two := func(name, value string) attribute.Value {
		return attribute.SliceValue(attribute.StringValue(name), attribute.StringValue(value))
	}
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetBody(attribute.MapValue(attribute.Slice("raw_headers",
		attribute.StringValue("Host"), attribute.StringValue("api.example"),
		attribute.StringValue("X-Api-Key"), attribute.StringValue("opaque-raw-key"),
		attribute.StringValue("Accept"), attribute.StringValue("text/html"))))
	rec.AddAttributes(
		attribute.Slice("http.request.headers",
			two("Authorization", "opaque-array-token"),
			two("Cookie", "sid=array-s3cr3t"),
			two("User-Agent", "curl/8.5"),
		),
		attribute.Slice("headers",
			attribute.MapValue(attribute.String("header", "Authorization"), attribute.String("val", "opaque-header-val")),
			attribute.MapValue(attribute.String("Field", "password"), attribute.String("Value", "field-hunter2")),
		),
	)
	emitForeign(t, srv.URL, rec)
	st.Close()
	recs := storedRecords(t, dir)
	if len(recs) != 1 {
		t.Fatalf("stored %d records, want 1", len(recs))
	}
	got := recs[0]
	all := got.Body + got.Attributes["http.request.headers"] + got.Attributes["headers"]
	for _, kept := range []string{`"Authorization"`, `"curl/8.5"`, `"api.example"`, `"text/html"`, `"Cookie"`, `"X-Api-Key"`, Redacted} {
		if !strings.Contains(all, kept) {
			t.Errorf("%s not kept: body %s, attributes %v", kept, got.Body, got.Attributes)
		}
	}
	storeHoldsNone(t, dir, "opaque-raw-key", "opaque-array-token", "array-s3cr3t", "opaque-header-val", "field-hunter2")
}

// TestForeignKeysSpacedOrDottedRedacted: "api_key", "apikey", "api-key"
// and "private_key" named a credential, but "stripe.api.key", "API Key"
// and "tls.private.key" (a map {"api": {"key": ...}} flattened, a
// form's label) did not, and were stored as sent.
func TestForeignKeysSpacedOrDottedRedacted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startCollector(t, dir, newTestKey(t), StoreConfig{})
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetBody(attribute.MapValue(attribute.String("API Key", "opaque-spaced-key")))
	rec.AddAttributes(
		attribute.String("stripe.api.key", "opaque-dotted-api-key"),
		attribute.String("tls.private.key", "opaque-dotted-private-key"),
		attribute.String("app.key_id", "kid-kept"),
	)
	emitForeign(t, srv.URL, rec)
	st.Close()
	recs := storedRecords(t, dir)
	if len(recs) != 1 {
		t.Fatalf("stored %d records, want 1", len(recs))
	}
	if got := recs[0].Attributes["app.key_id"]; got != "kid-kept" {
		t.Errorf("app.key_id stored as %q, want it kept", got)
	}
	storeHoldsNone(t, dir, "opaque-spaced-key", "opaque-dotted-api-key", "opaque-dotted-private-key")
}

// TestForeignRecordAttributesPairRedacted: a record whose attributes are
// themselves the pair, one record a header ({"name": "Cookie", "value":
// ...} as its attributes), had the value stored as sent: the pair was
// read inside a nested value only. A record of another pair keeps its
// value.
func TestForeignRecordAttributesPairRedacted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startCollector(t, dir, newTestKey(t), StoreConfig{})
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetBody(attribute.StringValue("request header"))
	rec.AddAttributes(attribute.String("name", "Cookie"), attribute.String("value", "sid=record-s3cr3t"))
	emitForeign(t, srv.URL, rec)
	var other otellog.Record
	other.SetTimestamp(time.Now())
	other.AddAttributes(attribute.String("name", "Accept"), attribute.String("value", "text/html"))
	emitForeign(t, srv.URL, other)
	st.Close()
	recs := storedRecords(t, dir)
	if len(recs) != 2 {
		t.Fatalf("stored %d records, want 2", len(recs))
	}
	if got := recs[1].Attributes["value"]; got != "text/html" {
		t.Errorf("value of an Accept pair stored as %q, want it kept", got)
	}
	if got := recs[0].Attributes["name"]; got != "Cookie" {
		t.Errorf("name of a Cookie pair stored as %q, want it kept", got)
	}
	storeHoldsNone(t, dir, "record-s3cr3t")
}
