package audit_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	. "github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
)

// A real collector whose in-flight budget (--max-inflight-bytes) a stalled
// batch of the same sender holds (its half of it) answers the sidecar's batches 503
// collector_busy. The emitter takes that as "retry later": it spools them,
// drops and rejects nothing, and shows the answer in its health; once the
// stalled connection closes, it replays the spool and the collector stores
// every record once.
func TestEmitterRetriesBusyCollector(t *testing.T) {
	t.Parallel()
	const maxBody, n = 1 << 20, 256
	dir := t.TempDir()
	st, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	// The smallest budget New takes: its half, what one sender may hold,
	// fits one batch of the largest size read through gzip (its buffer of
	// maxBody+1 and the reader's 48 KiB). The stalled batch and the
	// emitter's share a sender (one token), so the stall fills its half.
	hold := int64(maxBody + 1 + 48<<10)
	budget := 2 * hold
	col, err := collector.New(st, collector.Config{Token: testToken, MaxBodyBytes: maxBody, MaxInflightBytes: budget})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := col.HTTPServer()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); st.Close() })
	url := "http://" + ln.Addr().String()

	// A stalled batch: gzip of just under maxBody that stops before its
	// trailer, so that its request holds the sender's half, waiting.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(make([]byte, maxBody-4096))
	zw.Flush()
	stall, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stall.Close()
	fmt.Fprintf(stall, "POST /v1/logs HTTP/1.1\r\nHost: collector\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: gzip\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", testToken, gz.Len()+64)
	stall.Write(gz.Bytes())
	WaitFor(t, "the stalled batch holding the budget", func() bool {
		return strings.Contains(scrape(t, url), fmt.Sprintf("portcullis_collector_inflight_bytes %d\n", hold))
	})

	cfg := FastConfig(url, t.TempDir())
	cfg.Token = testToken
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	EmitN(t, e, n)
	WaitFor(t, "every batch placed", func() bool {
		s := e.Stats()
		return s.Spooled+s.Delivered+s.Rejected+s.Dropped >= n
	})
	if s := e.Stats(); s.Delivered != 0 || s.Rejected != 0 || s.Dropped != 0 || s.Retries == 0 {
		t.Fatalf("stats while the collector is busy %+v, want every record spooled after retries, none dropped or rejected", s)
	}
	if h := e.Health(); !h.Failing || !strings.HasPrefix(h.LastFailure, FailUnavailable+": 503 ") || !strings.Contains(h.LastFailure, "collector_busy") {
		t.Fatalf("health %+v, want failing, unavailable with the collector's busy answer", h)
	}
	if m := scrape(t, url); strings.Contains(m, `portcullis_collector_rejects_total{reason="busy"} 0`+"\n") {
		t.Fatalf("the collector counted no busy answer:\n%s", m)
	}

	stall.Close()
	WaitFor(t, "the spool replayed", func() bool { return e.Stats().Replayed == n })
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if s := e.Stats(); s.Rejected != 0 || s.Dropped != 0 || s.SpoolFiles != 0 {
		t.Errorf("stats after the replay %+v, want nothing rejected, dropped or left in the spool", s)
	}
	if got := len(storedRecords(t, dir)); got != n {
		t.Errorf("the collector stored %d records, want %d", got, n)
	}
}

// scrape returns the collector's /metrics, asked with a sender's token.
func scrape(t *testing.T, url string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
