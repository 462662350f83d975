package collector

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestBatchCharsetOtherThanUTF8Refused: a batch whose Content-Type names
// a charset other than UTF-8 (application/json; charset=utf-16) was
// accepted and decoded as UTF-8. It is refused 415 in the JSON error
// shape, naming the charset; UTF-8 in any case and quoted, or no charset,
// is taken, for OTLP's JSON and protobuf alike.
func TestBatchCharsetOtherThanUTF8Refused(t *testing.T) {
	t.Parallel()
	srv, _ := startCollector(t, t.TempDir(), newTestKey(t), StoreConfig{})
	send := func(ctype string) (int, map[string]string) {
		t.Helper()
		body := []byte(`{"resourceLogs":[]}`)
		if strings.Contains(ctype, "protobuf") {
			body = nil // an empty ExportLogsServiceRequest
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/logs", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e map[string]string
		json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e
	}
	for _, ctype := range []string{
		FormatJSON, FormatJSON + "; charset=utf-8", FormatJSON + "; charset=UTF-8", FormatJSON + `; charset="Utf-8"`,
		FormatProtobuf, FormatProtobuf + "; charset=utf-8",
	} {
		if code, e := send(ctype); code != http.StatusOK {
			t.Errorf("Content-Type %q: %d %v, want 200", ctype, code, e)
		}
	}
	for ctype, charset := range map[string]string{
		FormatJSON + "; charset=utf-16":        "utf-16",
		FormatJSON + "; charset=ISO-8859-1":    "ISO-8859-1",
		FormatJSON + `; charset="latin1"`:      "latin1",
		FormatProtobuf + "; charset=utf-16le":  "utf-16le",
		"application/protobuf; charset=cp1252": "cp1252",
	} {
		code, e := send(ctype)
		if code != http.StatusUnsupportedMediaType || e["error"] != "unsupported_media_type" || !strings.Contains(e["message"], charset) || e["request_id"] == "" {
			t.Errorf("Content-Type %q: %d %v, want 415 unsupported_media_type naming %q", ctype, code, e, charset)
		}
	}
}
