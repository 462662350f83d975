package alert

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
)

// postBatch sends recs as one OTLP batch of id, from the sidecar instance
// pod, to the collector at base (http://host:port) with the bearer token,
// over a real connection, and returns the answer's status.
func postBatch(t *testing.T, base, token, pod, id string, recs ...audit.Record) int {
	t.Helper()
	body := audit.EncodeBatch(nil, audit.Resource{Service: "svc", Host: "h", InstanceID: pod}, id, recs...)
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/logs", bytes.NewReader(body))
	req.Header.Set("Content-Type", collector.FormatProtobuf)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
