package collector

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"testing"
)

// Content codings are case-insensitive (RFC 9110 section 8.4.1): an OTLP
// sender writing "GZIP" or "x-gzip" (RFC 9110 section 8.4.1.3: a
// recipient should read it as gzip) was answered 400 "unsupported
// content encoding", which a sender drops its batch on (read100). Each
// spelling is stored; another coding is still refused by name.
func TestContentCodingAnyCase(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	srv, st := startNamedCollector(t, dir, key, Config{})
	send := func(id, coding string) (int, string) {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(encodeBatch(id, sampleRecord(1)))
		zw.Close()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/logs", &b)
		req.Header.Set("Content-Type", FormatProtobuf)
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		req.Header.Set("Content-Encoding", coding)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for i, coding := range []string{"GZIP", "Gzip", "x-gzip", " gzip "} {
		if code, body := send("coding-"+string(rune('a'+i)), coding); code != http.StatusOK {
			t.Errorf("Content-Encoding %q: %d %s, want 200", coding, code, body)
		}
	}
	if s := st.Stats(); s.Batches != 4 {
		t.Errorf("stored %d batches, want 4", s.Batches)
	}
	if code, body := send("coding-z", "br"); code != http.StatusBadRequest || !bytes.Contains([]byte(body), []byte(`unsupported content encoding \"br\"`)) {
		t.Errorf("Content-Encoding br: %d %s, want 400 naming it", code, body)
	}
}
