package collector

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
)

// A foreign OTLP client (here the OpenTelemetry Go SDK, over HTTP to the
// intake) logging a request's Authorization header, a cookie, a password,
// a URL with a query, a JWT or an API key in its body had each stored as
// sent: "nothing secret reaches an audit record" held only for the
// sidecar's own records. They are now cleared before the entry is
// written; counts, ids and other text stay as sent.
func TestForeignCredentialsRedacted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startCollector(t, dir, newTestKey(t), StoreConfig{})
	const (
		jwt    = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz"
		apiKey = "pk_acmehris1_DemoAcmeHrisSecret000000000000000001"
		opaque = "ya29.a0AfH6SMBx-opaque_token"
	)
	var rec otellog.Record
	rec.SetTimestamp(time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC))
	rec.SetBody(attribute.StringValue("retrying with Authorization: Bearer " + opaque + " and token " + jwt + ", key " + apiKey + "; basic auth: Basic dXNlcjpwYXNzd29yZA=="))
	rec.AddAttributes(
		attribute.String("http.request.header.authorization", "Bearer "+opaque),
		attribute.String("http.request.header.cookie", "sid=s3cr3t"),
		attribute.String("http.response.header.set-cookie", "sid=s3cr3t; HttpOnly"),
		attribute.String("http.request.header.x-api-key", apiKey),
		attribute.String("db.password", "hunter2"),
		attribute.String("app.client_secret", "shh"),
		attribute.String("oauth.refresh_token", "1//0g-refresh"),
		attribute.String("url.full", "https://api.example/v1/users?access_token="+opaque+"&page=2"),
		attribute.String("url.query", "access_token="+opaque),
		attribute.String("app.note", "the caller sent "+jwt),
		attribute.Int("gen_ai.usage.input_tokens", 42),
		attribute.String("app.feature", "sso"),
		attribute.String("app.mentions", "pk_ is our key prefix; eyJ starts a JWT; Bearer is a scheme"),
		// Encoded, as the evidence pack's credential scan finds them
		// (internal/credential: one implementation for both).
		attribute.String("app.path", "/v1/keys/"+strings.ReplaceAll(apiKey, "_", "%5F")+" gone"),
		attribute.String("app.wrapped", "key_"+base64.StdEncoding.EncodeToString([]byte(apiKey))),
		attribute.String("app.status", "Basic authentication required"),
	)
	emitForeign(t, srv.URL, rec)
	st.Close()
	recs := storedRecords(t, dir)
	if len(recs) != 1 {
		t.Fatalf("stored %d records, want 1", len(recs))
	}
	got := recs[0]
	want := map[string]string{
		"http.request.header.authorization": Redacted,
		"http.request.header.cookie":        Redacted,
		"http.response.header.set-cookie":   Redacted,
		"http.request.header.x-api-key":     Redacted,
		"db.password":                       Redacted,
		"app.client_secret":                 Redacted,
		"oauth.refresh_token":               Redacted,
		"url.full":                          "https://api.example/v1/users?" + Redacted,
		"url.query":                         Redacted,
		"app.note":                          "the caller sent " + Redacted,
		"gen_ai.usage.input_tokens":         "42",
		"app.feature":                       "sso",
		"app.mentions":                      "pk_ is our key prefix; eyJ starts a JWT; Bearer is a scheme",
		"app.path":                          Redacted + " gone",
		"app.wrapped":                       Redacted,
		"app.status":                        "Basic authentication required",
	}
	for k, v := range want {
		if got.Attributes[k] != v {
			t.Errorf("attribute %s stored as %q, want %q", k, got.Attributes[k], v)
		}
	}
	wantBody := "retrying with Authorization: Bearer " + Redacted + " and token " + Redacted + ", key pk_acmehris1_" + Redacted + "; basic auth: Basic " + Redacted
	if got.Body != wantBody {
		t.Errorf("body stored as %q, want %q", got.Body, wantBody)
	}
	// Nowhere in the store's files, whatever reads them.
	storeHoldsNone(t, dir, opaque, "s3cr3t", "hunter2", "DemoAcmeHrisSecret", "c2lnbmF0dXJlLWJ5dGVz", "dXNlcjpwYXNzd29yZA", "%5FDemoAcme", base64.StdEncoding.EncodeToString([]byte(apiKey))[8:40])
}
