package collector

import (
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
)

// TestForeignPrivateKeysAndPassphrasesRedacted: credentialKey named
// passwords, secrets, tokens, API keys and cookies, but not a private key
// or a passphrase: a foreign structured log of {"private_key": ...} or a
// "tls.passphrase" attribute was stored as sent, flat or nested.
func TestForeignPrivateKeysAndPassphrasesRedacted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startCollector(t, dir, newTestKey(t), StoreConfig{})
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetBody(attribute.MapValue(attribute.String("PrivateKey", "nested-key-material")))
	rec.AddAttributes(
		attribute.String("tls.passphrase", "correct-horse-battery"),
		attribute.String("service_account.private_key", "flat-key-material"),
		attribute.Map("signer", attribute.String("private-key", "dash-key-material")),
	)
	emitForeign(t, srv.URL, rec)
	st.Close()
	if recs := storedRecords(t, dir); len(recs) != 1 {
		t.Fatalf("stored %d records, want 1", len(recs))
	}
	storeHoldsNone(t, dir, "nested-key-material", "correct-horse-battery", "flat-key-material", "dash-key-material")
}
