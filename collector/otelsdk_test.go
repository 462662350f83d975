package collector

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// TestOpenTelemetrySDKClient sends logs with the OpenTelemetry Go SDK's
// OTLP/HTTP exporter, a client we did not write, and finds them stored:
// mapped semantic-convention attributes in their fields, the body and
// unknown attributes kept (stringified) under body and attributes.
func TestOpenTelemetrySDKClient(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startCollector(t, dir, newTestKey(t), StoreConfig{})
	ctx := context.Background()
	provider := sdkProvider(t, srv.URL)
	logger := provider.Logger("foreign-app")
	when := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	const n = 25
	for i := range n {
		var rec otellog.Record
		rec.SetTimestamp(when.Add(time.Duration(i) * time.Second))
		rec.SetBody(attribute.StringValue("user login"))
		rec.AddAttributes(
			attribute.String(audit.AttrMethod, "POST"),
			attribute.Int(audit.AttrStatus, 201),
			attribute.String(audit.AttrRoute, "/login"),
			attribute.String("app.feature", "sso"),
			attribute.Bool("app.beta", true),
		)
		logger.Emit(ctx, rec)
	}
	if err := provider.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	st.Close()
	recs := storedRecords(t, dir)
	if len(recs) != n {
		t.Fatalf("stored %d records, want %d", len(recs), n)
	}
	got := recs[3]
	if got.Method != "POST" || got.Status != 201 || got.Route != "/login" || got.Body != "user login" ||
		!got.Time.Equal(when.Add(3*time.Second)) || got.Attributes["app.feature"] != "sso" ||
		got.Attributes["app.beta"] != "true" || got.Tenant != "" {
		t.Errorf("stored foreign record %+v", got)
	}
	if !strings.HasPrefix(mustBatchID(t, dir), "sha256:") {
		t.Errorf("foreign batch without portcullis.batch_id should get a content id")
	}
}

// sdkProvider is an OpenTelemetry Go SDK logger provider exporting over
// OTLP/HTTP to the collector at url with the test sender's token, each
// record sent as it is emitted.
func sdkProvider(t *testing.T, url string) *sdklog.LoggerProvider {
	t.Helper()
	exp, err := otlploghttp.New(context.Background(), otlploghttp.WithEndpointURL(url+"/v1/logs"),
		otlploghttp.WithHeaders(map[string]string{"Authorization": "Bearer " + testToken}))
	if err != nil {
		t.Fatal(err)
	}
	return sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)))
}

func mustBatchID(t *testing.T, dir string) string {
	t.Helper()
	var id string
	ScanEntries(dir, func(e *Entry) error { id = e.BatchID; return nil })
	return id
}
