package collector

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrapeSeries returns the value of the unlabelled series name on the page of
// the metrics listener at url, or -1.
func scrapeSeries(t *testing.T, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(page), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", l, err)
			}
			return f
		}
	}
	return -1
}

// The signed head is the store's anchor outside the host: when it cannot
// be published (etcd down, the --publish-head mount gone) the collector
// only logged an error each --sign-every, and /metrics said nothing, so
// no alert could tell that the anchor had stopped moving. Now the
// failures are counted and the time of the last head published is a
// gauge; both move back once publishing works.
func TestHeadPublishFailuresOnMetrics(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	st := openTestStore(t, dir, key, StoreConfig{}, 0, 1)
	defer st.Close()
	col, err := New(st, Config{Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	mon := httptest.NewServer(col.MetricsHandler())
	defer mon.Close()
	anchorDir := filepath.Join(t.TempDir(), "mount")
	anchor := FileAnchor(filepath.Join(anchorDir, "published-head.json"))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.RunHeadSigner(ctx, 20*time.Millisecond, []HeadPublisher{anchor}, nil)
	}()
	defer func() { cancel(); <-done }()
	waitUntil(t, "head publish failures counted", func() bool {
		return scrapeSeries(t, mon.URL, "portcullis_collector_head_publish_failures_total") >= 2
	})
	if got := scrapeSeries(t, mon.URL, "portcullis_collector_head_published_timestamp_seconds"); got != 0 {
		t.Errorf("published timestamp %v before any head was published, want 0", got)
	}
	if err := os.Mkdir(anchorDir, 0o700); err != nil {
		t.Fatal(err)
	}
	before := float64(time.Now().Add(-time.Second).Unix())
	waitUntil(t, "a published head's time", func() bool {
		return scrapeSeries(t, mon.URL, "portcullis_collector_head_published_timestamp_seconds") >= before
	})
}

// waitUntil polls cond for up to a minute: a deadline on a loaded
// machine, not a speed assertion.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMetricsHookOnPage: Config.Metrics (the detection's ticket outbox)
// writes its series on the metrics page after the collector's own.
func TestMetricsHookOnPage(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	st := openTestStore(t, dir, key, StoreConfig{}, 0, 1)
	defer st.Close()
	col, err := New(st, Config{Token: testToken, Metrics: func(w io.Writer) {
		io.WriteString(w, "# TYPE portcullis_test_hook gauge\nportcullis_test_hook 7\n")
	}})
	if err != nil {
		t.Fatal(err)
	}
	mon := httptest.NewServer(col.MetricsHandler())
	defer mon.Close()
	if got := scrapeSeries(t, mon.URL, "portcullis_test_hook"); got != 7 {
		t.Errorf("portcullis_test_hook = %v, want 7", got)
	}
	if got := scrapeSeries(t, mon.URL, "portcullis_collector_batches_total"); got < 0 {
		t.Error("portcullis_collector_batches_total is gone from the page; want the collector's own series kept")
	}
}
