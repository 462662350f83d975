package collector

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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
	ctx := context.Background()
	provider := sdkProvider(t, srv.URL)
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetBody(attribute.MapValue(attribute.String("PrivateKey", "nested-key-material")))
	rec.AddAttributes(
		attribute.String("tls.passphrase", "correct-horse-battery"),
		attribute.String("service_account.private_key", "flat-key-material"),
		attribute.Map("signer", attribute.String("private-key", "dash-key-material")),
	)
	provider.Logger("foreign-app").Emit(ctx, rec)
	if err := provider.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if recs := storedRecords(t, dir); len(recs) != 1 {
		t.Fatalf("stored %d records, want 1", len(recs))
	}
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(path)
		for _, secret := range []string{"nested-key-material", "correct-horse-battery", "flat-key-material", "dash-key-material"} {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s holds %q", filepath.Base(path), secret)
			}
		}
		return nil
	})
}
