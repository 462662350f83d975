package collector

import (
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
)

// TestForeignCookieListsAndSpelledPasswordsRedacted: a Cookie header in
// a text ("Cookie: theme=dark; remember=...") had only its first cookie
// cleared, each after it stored as sent, though a Cookie key's value is
// cleared whole; a Ruby or PHP hash's "password"=>"..." was stored as
// sent; so were the values of keys a reader takes for a password, spelt
// with a mark between ("pass_word", "PASS-WORD", "pass word"), and of an
// Authorization key with an Armenian or a Latin small capital letter
// drawn as its Latin one.
func TestForeignCookieListsAndSpelledPasswordsRedacted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startCollector(t, dir, newTestKey(t), StoreConfig{})
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetBody(attribute.StringValue("GET / Cookie: theme=dark; remember_me=second-cookie-secret; uid=third-cookie-secret page=2"))
	rec.AddAttributes(
		attribute.String("app.params", `{"user"=>"bob", "password"=>"ruby-hash-secret"}`),
		attribute.String("app.php", `array('passwd' => 'php-array-secret')`),
		attribute.String("pass_word", "underscore-secret"),
		attribute.String("app.PASS-WORD", "hyphen-secret"),
		attribute.String("pass word", "space-secret"),
		attribute.String("aսthorization", "armenian-secret"),      // U+057D
		attribute.String("ᴀuthorization", "small-capital-secret"), // U+1D00
	)
	emitForeign(t, srv.URL, rec)
	st.Close()
	recs := storedRecords(t, dir)
	if len(recs) != 1 {
		t.Fatalf("stored %d records, want 1", len(recs))
	}
	if want := "GET / Cookie: " + Redacted + " page=2"; recs[0].Body != want {
		t.Errorf("body stored as %q, want %q", recs[0].Body, want)
	}
	storeHoldsNone(t, dir, "second-cookie-secret", "third-cookie-secret", "ruby-hash-secret", "php-array-secret",
		"underscore-secret", "hyphen-secret", "space-secret", "armenian-secret", "small-capital-secret")
}

// TestForeignPercentEncodedPairsRedacted: a pair percent-encoded inside
// a text, as a URL carries another URL in its query (a redirect's, an
// OAuth callback's), had its value stored as sent: "%3D" was no
// separator ("next=...%3Faccess_token%3D..."), once or twice encoded.
// Its value runs to the next encoded '&', the pairs after it kept.
func TestForeignPercentEncodedPairsRedacted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startCollector(t, dir, newTestKey(t), StoreConfig{})
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetBody(attribute.StringValue("redirect to /cb?next=https%3A%2F%2Fy%2Fcb%3Faccess_token%3Dencoded-secret%26state%3Dkept"))
	rec.AddAttributes(attribute.String("app.location", "/login?u=%2Fx%3Fpassword%253Dtwice-encoded-secret%2526page%253D2"))
	emitForeign(t, srv.URL, rec)
	st.Close()
	recs := storedRecords(t, dir)
	if len(recs) != 1 {
		t.Fatalf("stored %d records, want 1", len(recs))
	}
	if want := "redirect to /cb?next=https%3A%2F%2Fy%2Fcb%3Faccess_token%3D" + Redacted + "%26state%3Dkept"; recs[0].Body != want {
		t.Errorf("body stored as %q, want %q", recs[0].Body, want)
	}
	if want := "/login?u=%2Fx%3Fpassword%253D" + Redacted + "%2526page%253D2"; recs[0].Attributes["app.location"] != want {
		t.Errorf("app.location stored as %q, want %q", recs[0].Attributes["app.location"], want)
	}
	storeHoldsNone(t, dir, "encoded-secret", "twice-encoded-secret")
}

// TestForeignTwiceRenderedJSONRedacted: a JSON text rendered into a JSON
// string twice (an application's JSON log line inside a container
// runtime's, shipped as a string: \\\"password\\\":\\\"...\\\") had its
// credentials stored as sent: only a quote escaped once was read around
// a pair's name and value.
func TestForeignTwiceRenderedJSONRedacted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startCollector(t, dir, newTestKey(t), StoreConfig{})
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	body := `{"log":"{\"msg\":\"login {\\\"user\\\":\\\"bob\\\",\\\"password\\\":\\\"twice-rendered-secret\\\"}\"}"}`
	rec.SetBody(attribute.StringValue(body))
	emitForeign(t, srv.URL, rec)
	st.Close()
	recs := storedRecords(t, dir)
	if len(recs) != 1 {
		t.Fatalf("stored %d records, want 1", len(recs))
	}
	if want := strings.Replace(body, "twice-rendered-secret", Redacted, 1); recs[0].Body != want {
		t.Errorf("body stored as %q, want %q", recs[0].Body, want)
	}
	storeHoldsNone(t, dir, "twice-rendered-secret")
}

// TestForeignXMLElementsRedacted: a credential in an XML element (a SOAP
// call's WS-Security header, a config dump) was stored as sent: only
// NAME=VALUE and NAME: VALUE were read. Such an element's text is now
// cleared; a generic type (List<Token> tokens) is no element.
func TestForeignXMLElementsRedacted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startCollector(t, dir, newTestKey(t), StoreConfig{})
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetBody(attribute.StringValue(`<wsse:UsernameToken><wsse:Username>bob</wsse:Username><wsse:Password Type="http://docs.oasis-open.org/wss#PasswordText">xml ns secret</wsse:Password></wsse:UsernameToken>`))
	rec.AddAttributes(
		attribute.String("app.config", "<db><user>app</user><password>xml-secret</password><port>5432</port></db>"),
		attribute.String("app.java", "List<Token> tokens = new ArrayList<>(); Map<String, Token> m"),
		attribute.String("app.html", `<a href="/x">token</a> <token/> <b>secret</b>`),
	)
	emitForeign(t, srv.URL, rec)
	st.Close()
	recs := storedRecords(t, dir)
	if len(recs) != 1 {
		t.Fatalf("stored %d records, want 1", len(recs))
	}
	got := recs[0]
	got.Attributes["body"] = got.Body
	for k, want := range map[string]string{
		"body":       `<wsse:UsernameToken><wsse:Username>bob</wsse:Username><wsse:Password Type="http://docs.oasis-open.org/wss#PasswordText">` + Redacted + `</wsse:Password></wsse:UsernameToken>`,
		"app.config": "<db><user>app</user><password>" + Redacted + "</password><port>5432</port></db>",
		"app.java":   "List<Token> tokens = new ArrayList<>(); Map<String, Token> m",
		"app.html":   `<a href="/x">token</a> <token/> <b>secret</b>`,
	} {
		if got.Attributes[k] != want {
			t.Errorf("%s stored as %q, want %q", k, got.Attributes[k], want)
		}
	}
	storeHoldsNone(t, dir, "xml ns secret", "xml-secret")
}

// TestForeignAuthParamListsRedacted: an Authorization header whose scheme
// takes a list of parameters (RFC 9110 section 11.2: Digest, OAuth 1.0,
// AWS4-HMAC-SHA256) had only what followed the scheme up to the first
// quote or comma cleared: a Digest response (a hash of the password,
// open to an offline search) and an AWS or OAuth signature were stored
// as sent. The whole list is cleared now, the scheme kept.
func TestForeignAuthParamListsRedacted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startCollector(t, dir, newTestKey(t), StoreConfig{})
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetBody(attribute.StringValue(`Authorization: Digest username="bob", realm="api", nonce="dcd98b", uri="/x", response="digest-response-secret" page=2`))
	rec.AddAttributes(
		attribute.String("app.aws", "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=aws-signature-secret"),
		attribute.String("app.oauth", `{"headers": "Authorization: OAuth oauth_consumer_key=\"oauth-consumer-secret\", oauth_signature=\"oauth-signature-secret\""}`),
	)
	emitForeign(t, srv.URL, rec)
	st.Close()
	recs := storedRecords(t, dir)
	if len(recs) != 1 {
		t.Fatalf("stored %d records, want 1", len(recs))
	}
	if want := "Authorization: Digest " + Redacted + " page=2"; recs[0].Body != want {
		t.Errorf("body stored as %q, want %q", recs[0].Body, want)
	}
	storeHoldsNone(t, dir, "digest-response-secret", "aws-signature-secret", "oauth-consumer-secret", "oauth-signature-secret")
}
