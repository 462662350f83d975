//go:build linux

package collector

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/internal/tmpfs"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// testClock is a clock a test moves by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fullStore serves a collector, on the clock clk, over a store on a
// full tmpfs of size bytes, whose append of a batch of n records failed;
// it returns the intake server, the store, the batch and the filler file.
func fullStore(t *testing.T, size, n int, clk *testClock) (*httptest.Server, *Store, []byte, string) {
	t.Helper()
	dir := tmpfs.Mount(t, size)
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	col, err := New(st, Config{Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(col)
	t.Cleanup(func() { srv.Close(); st.Close() })
	filler := tmpfs.Fill(t, dir)
	recs := make([]audit.Record, n)
	for i := range recs {
		recs[i] = sampleRecord(i)
		recs[i].Time = clk.Now().UnixNano()
	}
	batch := encodeBatch("full-1", recs...)
	if got := post(t, srv.URL, testToken, batch, false); got != 503 {
		t.Fatalf("a batch not fitting a full disk: %d, want 503", got)
	}
	return srv, st, batch, filler
}

// Finding (review80): /readyz probed a failing store each time anyone
// asked, on the intake listener, which every sender network reaches,
// without a credential: each probe takes the store's lock and reserves and
// fsyncs the failed append's room. It now probes at most once every
// DefaultProbeEvery, and answers from the last probe in between.
func TestReadyzProbesAtMostOnceAnInterval(t *testing.T) {
	t.Parallel()
	clk := &testClock{now: time.Now()}
	srv, st, _, _ := fullStore(t, 256<<10, 200, clk)
	for range 20 {
		if code, body := getBody(t, srv.URL+"/readyz"); code != 503 {
			t.Fatalf("/readyz on a full disk: %d %q, want 503", code, body)
		}
	}
	if got := st.Stats().Probes; got != 1 {
		t.Errorf("20 /readyz within one interval probed the store %d times, want 1", got)
	}
	clk.add(DefaultProbeEvery)
	getBody(t, srv.URL+"/readyz")
	if got := st.Stats().Probes; got != 2 {
		t.Errorf("/readyz an interval later: %d probes in all, want 2", got)
	}
}

// Finding (review80): after a failed append, /readyz waited for room for
// that append's batch for ever, though its sender may never retry it
// here (a collector out of its Service's endpoints gets no batch): the
// collector stayed not ready with room for every other batch. The room is
// now asked for FailedAppendHeld after the last failed append, then a page.
func TestReadyzForgetsAnUnretriedBatchsSize(t *testing.T) {
	t.Parallel()
	clk := &testClock{now: time.Now()}
	srv, _, batch, filler := fullStore(t, 4<<20, 2000, clk)
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
	clk.add(FailedAppendHeld)
	if code, body := getBody(t, srv.URL+"/readyz"); code != 200 {
		t.Errorf("/readyz %v after the batch failed, never retried, 32 KiB free: %d %q, want 200 ready", FailedAppendHeld, code, body)
	}
	if got := post(t, srv.URL, testToken, batch, false); got != 503 {
		t.Fatalf("the batch retried: %d, want 503", got)
	}
	clk.add(DefaultProbeEvery)
	if code, body := getBody(t, srv.URL+"/readyz"); code != 503 {
		t.Errorf("/readyz after the batch failed again: %d %q, want 503 not ready", code, body)
	}
}

// Finding (review80): when the collector could not publish its signed
// head to etcd (etcd down), /readyz said "signed heads published to every
// anchor" and /healthz "ok": only a counter on /metrics told. Both now say
// so, the monitoring listener with the error; readiness stays (the
// batches are stored). A real etcd is stopped under a running head signer,
// then started again.
func TestReadyzReportsHeadPublishFailures(t *testing.T) {
	t.Parallel()
	e, _, cli := etcdServer(t)
	srv, st := startNamedCollector(t, t.TempDir(), newTestKey(t), Config{})
	col, err := New(st, Config{Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	mon := httptest.NewServer(col.MetricsHandler())
	t.Cleanup(mon.Close)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.RunHeadSigner(ctx, 100*time.Millisecond, []HeadPublisher{etcdadmin.New(cli, "/portcullis")}, nil)
	}()
	defer func() { cancel(); <-done }()
	waitUntil(t, "a head published", func() bool { return !st.Stats().HeadPublished.IsZero() })
	if code, body := getBody(t, srv.URL+"/readyz"); code != 200 || !strings.Contains(body, "anchors: ok") {
		t.Fatalf("/readyz with the head published: %d %q", code, body)
	}

	e.Stop()
	failed := st.Stats().HeadFailures
	waitUntil(t, "a failed round", func() bool { return st.Stats().HeadFailures > failed })
	code, body := getBody(t, srv.URL+"/readyz")
	if code != 200 || !strings.Contains(body, "anchors: FAIL, signing or publishing the head failing since ") {
		t.Errorf("/readyz with etcd down: %d %q, want 200 ready, anchors FAIL", code, body)
	}
	if strings.Contains(body, "/portcullis") {
		t.Errorf("/readyz on the intake listener names the etcd key: %q", body)
	}
	if _, body := getBody(t, srv.URL+"/healthz"); body != `{"status":"degraded","storing":true,"heads_published":false}` {
		t.Errorf("/healthz with etcd down: %q, want degraded, storing, heads not published", body)
	}
	if _, body := getBody(t, mon.URL+"/readyz"); !strings.Contains(body, "/portcullis/audit/head") {
		t.Errorf("/readyz on the metrics listener with etcd down: %q, want the error naming the anchor", body)
	}

	if err := e.Restart(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	waitUntil(t, "a head published again", func() bool { return st.Stats().HeadPublished.After(back) })
	if _, body := getBody(t, srv.URL+"/healthz"); body != `{"status":"ok"}` {
		t.Errorf("/healthz with etcd back: %q", body)
	}
}
