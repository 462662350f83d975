//go:build linux

package collector

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/internal/tmpfs"
)

// getBody GETs url and returns its status and body.
func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Finding (review72): the collector had /healthz alone, which answered
// 200 {"status":"ok"} while its store refused every batch (a full disk):
// its readiness probe kept it in the Service's endpoints, and nothing
// said it could not store. /readyz now answers 503 while appends fail,
// on the intake listener and on --metrics-listen (there with the error),
// /healthz says degraded and not storing (it stays 200: liveness), and
// once the disk has room /readyz probes the store and is ready again
// without a batch having to reach it.
func TestCollectorReadyzOnFullDisk(t *testing.T) {
	t.Parallel()
	dir := tmpfs.Mount(t, 256<<10)
	srv, st := startNamedCollector(t, dir, newTestKey(t), Config{})
	st.probeEvery.Store(0) // each /readyz probes: TestReadyzProbesAtMostOnceAnInterval tests the interval
	col, err := New(st, Config{Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	mon := httptest.NewServer(col.MetricsHandler())
	t.Cleanup(mon.Close)
	for _, base := range []string{srv.URL, mon.URL} {
		if code, body := getBody(t, base+"/readyz"); code != 200 || !strings.HasPrefix(body, "ready\nstore: ok") {
			t.Errorf("%s/readyz on a writable store: %d %q, want 200 ready", base, code, body)
		}
	}
	filler := tmpfs.Fill(t, dir)
	recs := make([]audit.Record, 200)
	for i := range recs {
		recs[i] = sampleRecord(i)
		recs[i].Time = time.Now().UnixNano()
	}
	if got := post(t, srv.URL, aliceToken, encodeBatch("full-1", recs...), false); got != 503 {
		t.Fatalf("a batch not fitting a full disk: %d, want 503", got)
	}
	for _, base := range []string{srv.URL, mon.URL} {
		code, body := getBody(t, base+"/readyz")
		if code != 503 || !strings.Contains(body, "not ready\nstore: FAIL, appends failing since ") {
			t.Errorf("%s/readyz while the store refuses batches: %d %q, want 503 not ready, store FAIL", base, code, body)
		}
		if base == srv.URL && strings.Contains(body, dir) {
			t.Errorf("/readyz on the intake listener names the store's path: %q", body)
		}
		code, body = getBody(t, base+"/healthz")
		if code != 200 || !strings.Contains(body, `"status":"degraded","storing":false`) {
			t.Errorf("%s/healthz while the store refuses batches: %d %q, want 200 degraded, not storing", base, code, body)
		}
	}
	if code, body := getBody(t, mon.URL+"/readyz"); !strings.Contains(body, "no space left on device") {
		t.Errorf("/readyz on the metrics listener: %d %q, want the store's error", code, body)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// No batch is sent: out of the Service's endpoints, none would come.
	if code, body := getBody(t, mon.URL+"/readyz"); code != 200 || !strings.HasPrefix(body, "ready\nstore: ok") {
		t.Errorf("/readyz once the disk has room: %d %q, want 200 ready", code, body)
	}
	if code, body := getBody(t, srv.URL+"/healthz"); code != 200 || body != `{"status":"ok"}` {
		t.Errorf("/healthz once the disk has room: %d %q", code, body)
	}
	if got := post(t, srv.URL, aliceToken, encodeBatch("full-1", recs...), false); got != 200 {
		t.Fatalf("the batch retried once the disk has room: %d, want 200", got)
	}
}

// Finding (read77): /readyz probed a full store with one page, whatever
// the append that failed needed. A disk with a few pages free but not the
// room of the batch its sender retries made the collector ready, and
// /healthz "ok" and /readyz "store: ok, storing" on the monitoring
// listener, until that batch failed again: readiness flapped, and any
// client on the intake listener could make the store read as storing by
// asking its /readyz. The probe now reserves as much as the failed
// append needed.
func TestCollectorReadyzProbesTheFailedAppendsSize(t *testing.T) {
	t.Parallel()
	dir := tmpfs.Mount(t, 4<<20)
	srv, st := startNamedCollector(t, dir, newTestKey(t), Config{})
	st.probeEvery.Store(0) // each /readyz probes: TestReadyzProbesAtMostOnceAnInterval tests the interval
	col, err := New(st, Config{Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	mon := httptest.NewServer(col.MetricsHandler())
	t.Cleanup(mon.Close)
	filler := tmpfs.Fill(t, dir)
	recs := make([]audit.Record, 2000)
	for i := range recs {
		recs[i] = sampleRecord(i)
		recs[i].Time = time.Now().UnixNano()
	}
	batch := encodeBatch("big-1", recs...)
	if got := post(t, srv.URL, aliceToken, batch, false); got != 503 {
		t.Fatalf("a batch not fitting a full disk: %d, want 503", got)
	}
	fi, err := os.Stat(filler)
	if err != nil {
		t.Fatal(err)
	}
	// Room for a few pages, not for the batch.
	if err := os.Truncate(filler, fi.Size()-32<<10); err != nil {
		t.Fatal(err)
	}
	if code, body := getBody(t, srv.URL+"/readyz"); code != 503 {
		t.Errorf("/readyz with 32 KiB free for a batch of %d bytes: %d %q, want 503 not ready", len(batch), code, body)
	}
	if code, body := getBody(t, mon.URL+"/healthz"); !strings.Contains(body, `"storing":false`) {
		t.Errorf("/healthz with 32 KiB free for a batch of %d bytes: %d %q, want not storing", len(batch), code, body)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if code, body := getBody(t, mon.URL+"/readyz"); code != 200 {
		t.Errorf("/readyz once the disk has room: %d %q, want 200 ready", code, body)
	}
	if got := post(t, srv.URL, aliceToken, batch, false); got != 200 {
		t.Fatalf("the batch retried once the disk has room: %d, want 200", got)
	}
}

// Finding (read77): a collector killed while /readyz probed its full
// store left the probe's file, as large as the failed append, and
// nothing removed it: the disk stayed that much fuller. OpenStore now
// removes such files.
func TestLeftProbeRemovedAtOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	left := filepath.Join(dir, ".probe-123456")
	if err := os.WriteFile(left, make([]byte, 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("a probe's file left by a killed collector is still there after OpenStore: %v", err)
	}
}
