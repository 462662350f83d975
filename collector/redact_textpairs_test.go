package collector

import (
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"

	"github.com/portcullis/portcullis/audit"
)

// TestForeignPairsInTextRedacted: free text was cleared only by a
// credential's shape (a JWT, a long Bearer value, a Basic pair, an API
// key), so a foreign OTLP client's log line with a credential's name and
// its value, the commonest way one is logged, was stored as sent: a
// password in "login password=... user=bob", a short Bearer value after
// "Authorization:", an api_key in a query string, a curl command's -H
// headers, a Set-Cookie line, a JSON text's "password", in the body, an
// attribute's value, a string nested in a map, and a session id in a
// path's parameters. The value after such a name is now cleared; the
// other pairs stay as sent. So is a URL's password (a connection string
// in a log line).
func TestForeignPairsInTextRedacted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startCollector(t, dir, newTestKey(t), StoreConfig{})
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetBody(attribute.StringValue("login password=body-secret user=bob"))
	rec.AddAttributes(
		attribute.String("app.line", "retry with Authorization: Bearer short-tok page=2"),
		attribute.String("app.request", "GET /v1/x?page=2&api_key=query-secret&sort=asc"),
		attribute.String("app.curl", `curl -H 'X-Api-Key: curl-key-secret' -H "Cookie: theme=dark; sid=curl-sid-secret" https://api.example/`),
		attribute.String("app.response", "Set-Cookie: JSESSIONID=set-cookie-secret; Path=/; HttpOnly"),
		attribute.String("app.json", `{"user": "bob", "password": "json text secret", "region": "eu-west-1"}`),
		attribute.Map("app.nested", attribute.String("msg", `sent {"token":"nested-json-secret"} and secret = spaced-secret`),
			attribute.String("query", "a=1&sid=nested-amp-secret&session=nested-amp-session")),
		attribute.String(audit.AttrPath, "/app;jsessionid=path-session-secret"),
		attribute.String("app.dsn", "dial postgres://app:dsn-url-secret@db:5432/app failed"),
	)
	emitForeign(t, srv.URL, rec)
	st.Close()
	recs := storedRecords(t, dir)
	if len(recs) != 1 {
		t.Fatalf("stored %d records, want 1", len(recs))
	}
	got := recs[0]
	want := map[string]string{
		"body":         "login password=" + Redacted + " user=bob",
		"app.line":     "retry with Authorization: Bearer " + Redacted + " page=2",
		"app.request":  "GET /v1/x?page=2&api_key=" + Redacted + "&sort=asc",
		"app.curl":     `curl -H 'X-Api-Key: ` + Redacted + `' -H "Cookie: ` + Redacted + `" https://api.example/`,
		"app.response": "Set-Cookie: " + Redacted + "; Path=/; HttpOnly",
		"app.json":     `{"user": "bob", "password": "` + Redacted + `", "region": "eu-west-1"}`,
		"path":         "/app;jsessionid=" + Redacted,
		"app.dsn":      "dial postgres://app:" + Redacted + "@db:5432/app failed",
	}
	got.Attributes["body"], got.Attributes["path"] = got.Body, got.Path
	for k, v := range want {
		if got.Attributes[k] != v {
			t.Errorf("%s stored as %q, want %q", k, got.Attributes[k], v)
		}
	}
	if !strings.Contains(got.Attributes["app.nested"], `"msg"`) {
		t.Errorf("app.nested stored as %q, want its msg kept", got.Attributes["app.nested"])
	}
	storeHoldsNone(t, dir, "body-secret", "short-tok", "query-secret", "curl-key-secret", "curl-sid-secret",
		"set-cookie-secret", "json text secret", "nested-json-secret", "spaced-secret", "path-session-secret", "nested-amp-secret", "nested-amp-session")
}

// TestRedactPairsEdges: the edges of a pair's value, as redactPairs
// reads them.
func TestRedactPairsEdges(t *testing.T) {
	for in, want := range map[string]string{
		`password="never closed`:                                 `password="` + Redacted,
		"Authorization: Bearer":                                  "Authorization: " + Redacted,
		"Authorization: Bearer " + Redacted:                      "Authorization: Bearer " + Redacted,
		"authorization:\tNegotiate  YIIB x":                      "authorization:\tNegotiate  " + Redacted + " x",
		"Authorization: s3cr3t (from the CLI)":                   "Authorization: " + Redacted + " (from the CLI)",
		`{\"token\":\"t\",\"n\":1}`:                              `{\"token\":\"` + Redacted + `\",\"n\":1}`,
		"token=a&token=b;secret=c,x=1":                           "token=" + Redacted + "&token=" + Redacted + ";secret=" + Redacted + ",x=1",
		"db.password = p@ss:word!":                               "db.password = " + Redacted,
		"pass%77ord=p1 Пароль=p2 pаssword=p3":                    "pass%77ord=" + Redacted + " Пароль=" + Redacted + " pаssword=" + Redacted,
		"token::new()":                                           "token:" + Redacted + ")",
		"/v1/token:refresh /v1/sessions:batchCreate":             "/v1/token:" + Redacted + " /v1/sessions:batchCreate",
		`a=1\u0026sid=s\u003csession=t\u00`:                      `a=1\u0026sid=` + Redacted + `\u003csession=` + Redacted + `\u00`,
		"password: required, token: expired":                     "password: " + Redacted + ", token: " + Redacted,
		"Authorization: " + strings.Repeat("Bearer ", 1e5) + "x": "Authorization: " + strings.Repeat("Bearer ", 1e5) + Redacted,
	} {
		if got := redactPairs(in); got != want {
			t.Errorf("redactPairs(%.80q) = %.80q, want %.80q", in, got, want)
		}
	}
}
