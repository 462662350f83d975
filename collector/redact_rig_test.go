package collector

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	otellog "go.opentelemetry.io/otel/log"
)

// emitForeign sends rec to the intake at url as a foreign OTLP client
// does (the OpenTelemetry Go SDK, over HTTP), and returns once the SDK has
// delivered it.
func emitForeign(t *testing.T, url string, rec otellog.Record) {
	t.Helper()
	ctx := context.Background()
	provider := sdkProvider(t, url)
	provider.Logger("foreign-app").Emit(ctx, rec)
	if err := provider.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// storeHoldsNone fails t for every file under dir, whatever reads it,
// that holds one of secrets.
func storeHoldsNone(t *testing.T, dir string, secrets ...string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(path)
		for _, secret := range secrets {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s holds %q", filepath.Base(path), secret)
			}
		}
		return nil
	})
}
