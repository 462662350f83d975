package collector

import (
	"cmp"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// postAnswer posts body with token and returns the status, the JSON
// error code and the Retry-After header.
func postAnswer(t *testing.T, url, token string, body []byte) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/logs", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", FormatProtobuf)
	req.Header.Set("Authorization", "Bearer "+token)
	a := doRequest(t, req)
	var e struct{ Error, Message string }
	if a.resp.StatusCode != 200 {
		if err := json.Unmarshal(a.body, &e); err != nil || e.Message == "" {
			t.Fatalf("status %d answer %q is not the JSON error shape", a.resp.StatusCode, a.body)
		}
	}
	return a.resp.StatusCode, e.Error, a.resp.Header.Get("Retry-After")
}

// Batch ids of one sidecar instance arriving out of order are each stored
// once, and a retry of any is acknowledged without storing it again,
// before and after a restart; a batch further below its instance's newest
// than the window is refused 409 batch_outside_window, counted, and not
// stored, rather than remembered for ever or stored twice.
func TestDedupWindowOverLoopback(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	srv, st := startCollector(t, dir, key, StoreConfig{})
	send := func(url, id string) (int, string) {
		t.Helper()
		r := sampleRecord(0)
		r.SetRequestID([]byte(id))
		code, e, _ := postAnswer(t, url, testToken, encodeBatch(id, r))
		return code, e
	}
	for _, id := range []string{"inst-3", "inst-1", "inst-2", "inst-2", "inst-5", "inst-4", "inst-1"} {
		if code, e := send(srv.URL, id); code != 200 {
			t.Fatalf("%s: status %d %s, want 200", id, code, e)
		}
	}
	if code, _ := send(srv.URL, "inst-5000"); code != 200 {
		t.Fatalf("inst-5000: status %d", code)
	}
	for _, c := range []struct {
		id   string
		code int
	}{{"inst-4", 409}, {"inst-904", 409}, {"inst-905", 200}, {"inst-905", 200}, {"other-1", 200}} {
		code, e := send(srv.URL, c.id)
		if code != c.code || code == 409 && e != "batch_outside_window" {
			t.Fatalf("%s: status %d %q, want %d", c.id, code, e, c.code)
		}
	}
	if s := st.Stats(); s.Batches != 8 || s.Duplicates != 3 || s.OutsideWindow != 2 {
		t.Errorf("stats %+v, want 8 batches, 3 duplicates, 2 outside the window", s)
	}
	if m := getMetricsWith(t, srv.URL, testToken); !strings.Contains(m, `portcullis_collector_rejects_total{reason="outside_window"} 2`) {
		t.Errorf("metrics do not count the 2 refusals:\n%s", m)
	}
	srv.Close()
	st.Close()

	srv, st = startCollector(t, dir, key, StoreConfig{})
	for _, c := range []struct {
		id   string
		code int
	}{{"inst-905", 200}, {"inst-5000", 200}, {"inst-3", 409}, {"other-1", 200}, {"inst-5001", 200}} {
		if code, e := send(srv.URL, c.id); code != c.code {
			t.Fatalf("after restart, %s: status %d %q, want %d", c.id, code, e, c.code)
		}
	}
	if s := st.Stats(); s.Batches != 1 || s.Duplicates != 3 {
		t.Errorf("after restart: stats %+v, want 1 batch (inst-5001) and 3 duplicates", s)
	}
	srv.Close()
	st.Close()
	ids := map[string]int{}
	for _, r := range storedRecords(t, dir) {
		ids[r.RequestID]++
	}
	if len(ids) != 9 {
		t.Errorf("stored request ids %v, want 9 distinct", ids)
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("batch %s stored %d times", id, n)
		}
	}
}

// The memory of stored ids is bounded, whatever a sender sends: instances
// beyond dedupInstances and ids without a sequence beyond dedupOthers are
// forgotten, and within an instance's window the answer is exact against
// a map of everything (ids out of order by up to the window).
func TestDedupBoundedAndExact(t *testing.T) {
	t.Parallel()
	var d dedup
	all := map[string]bool{}
	rng := rand.New(rand.NewPCG(1, 2))
	var high uint64
	for range 50000 {
		seq := high + 1
		if high > dedupWindow && rng.IntN(3) == 0 {
			seq = high - uint64(rng.IntN(dedupWindow-1)) // a late or repeated one, within the window
		}
		id := "inst-" + strconv.FormatUint(seq, 10)
		dup, err := d.check("token:a", id)
		if err != nil {
			t.Fatalf("%s (newest %d): %v", id, high, err)
		}
		if dup != all[id] {
			t.Fatalf("%s: duplicate %v, want %v", id, dup, all[id])
		}
		if !dup {
			d.add("token:a", id, 1, time.Time{})
			all[id] = true
			high = max(high, seq)
		}
	}
	if _, err := d.check("token:a", "inst-"+strconv.FormatUint(high-dedupWindow, 10)); err == nil {
		t.Errorf("a batch at the window's floor was not refused")
	}
	for i := range 3 * dedupInstances {
		d.add("token:a", "pod"+strconv.Itoa(i)+"-1", 1, time.Time{})
		d.add("token:a", "sha256:"+strconv.Itoa(i), 1, time.Time{})
	}
	s := d.senders["token:a"]
	if len(s.instances) != dedupInstances || s.lru.Len() != dedupInstances || len(s.others) > dedupOthers || len(s.ring) > dedupOthers {
		t.Errorf("remembered %d instances (%d listed), %d other ids: want at most %d and %d", len(s.instances), s.lru.Len(), len(s.others), dedupInstances, dedupOthers)
	}
	if dup, _ := d.check("token:a", "pod"+strconv.Itoa(3*dedupInstances-1)+"-1"); !dup {
		t.Errorf("the newest instance was forgotten")
	}
}

// A sidecar whose batches the collector refuses 409 batch_outside_window
// drops them, counted as rejected and reported, instead of retrying the
// oldest at the head of its spool for ever.
func TestEmitterDropsBatchOutsideWindow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, _ := startCollector(t, dir, newTestKey(t), StoreConfig{})
	cfg := fastConfig(srv.URL, t.TempDir())
	cfg.Token = testToken
	e, err := audit.NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	emit := func(i int) {
		r := sampleRecord(i)
		for !e.Emit(&r) {
			time.Sleep(time.Millisecond)
		}
	}
	// The emitter's first batch, "<instance>-1", then one of its
	// instance 9000 batches later, as a stolen token could send: the
	// emitter's next batches are far below the window.
	emit(0)
	var first string
	waitFor(t, "the emitter's first batch stored", func() bool {
		ScanEntries(dir, func(en *Entry) error { first = cmp.Or(first, en.BatchID); return nil })
		return first != ""
	})
	ahead := first[:strings.LastIndexByte(first, '-')] + "-9000"
	if code, _, _ := postAnswer(t, srv.URL, testToken, encodeBatch(ahead, sampleRecord(0))); code != 200 {
		t.Fatalf("status %d", code)
	}
	for i := range 100 {
		emit(i)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if s := e.Stats(); s.Rejected != 100 || s.SpoolFiles != 0 {
		t.Errorf("emitter stats %+v, want 100 rejected and nothing left in the spool", s)
	}
	if h := e.Health(); !strings.Contains(h.LastFailure, "batch_outside_window") {
		t.Errorf("health %q does not report the refusal", h.LastFailure)
	}
}

// A sender past its byte quota (--sender-quota) is answered 429
// sender_quota with Retry-After, counted; the sidecar keeps its batches
// in its spool, waits, and delivers every record once when the quota
// refills: none is dropped.
func TestSenderQuotaSidecarBacksOff(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var offset atomic.Int64 // the collector's clock, moved on by the test
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	// A quota a batch of the sidecar's is a small part of: a refused one
	// fits again within a second or two (Retry-After), in real time.
	const quota = 4 << 20
	col, err := New(st, Config{Token: testToken, MaxBodyBytes: 1 << 20, SenderQuota: quota, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(col)
	defer srv.Close()

	probe := make([]audit.Record, 1000)
	for i := range probe {
		probe[i] = sampleRecord(i)
	}
	big := encodeBatch("probe-1", probe...)
	for i := 0; ; i++ {
		code, e, ra := postAnswer(t, srv.URL, testToken, encodeBatch("probe-"+strconv.Itoa(i+1), probe...))
		if code == 200 {
			continue
		}
		if code != 429 || e != "sender_quota" || ra == "" || ra == "0" {
			t.Fatalf("over quota: status %d %q Retry-After %q, want 429 sender_quota with Retry-After", code, e, ra)
		}
		if i*len(big) > 2*quota {
			t.Fatalf("%d batches of %d bytes taken within a quota of %d", i, len(big), quota)
		}
		break
	}

	cfg := fastConfig(srv.URL, t.TempDir())
	cfg.Token = testToken
	e, err := audit.NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	for i := range n {
		r := sampleRecord(i)
		r.SetRequestID([]byte("q-" + strconv.Itoa(i)))
		for !e.Emit(&r) {
			time.Sleep(time.Millisecond)
		}
	}
	waitUntil(t, "the sidecar spools what the collector refuses", func() bool { return e.Stats().SpoolFiles > 0 })
	// It waits out Retry-After (a second at least) before the next try,
	// not its own backoff of a few milliseconds.
	time.Sleep(700 * time.Millisecond)
	if n := quotaRejects(t, srv.URL); n > 3 {
		t.Errorf("%d quota refusals within 0.7 s: the sidecar did not wait out Retry-After", n)
	}
	deadline := time.Now().Add(60 * time.Second)
	for e.Stats().SpoolFiles > 0 || e.Stats().Delivered+e.Stats().Replayed < n {
		if time.Now().After(deadline) {
			t.Fatalf("not delivered: %+v", e.Stats())
		}
		offset.Add(int64(time.Minute)) // the quota refills
		time.Sleep(200 * time.Millisecond)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if s := e.Stats(); s.Delivered+s.Replayed != n || s.Rejected != 0 || s.DroppedSpool != 0 || s.Retries == 0 {
		t.Errorf("emitter stats %+v, want all %d delivered after retries, none dropped", s, n)
	}
	if n := quotaRejects(t, srv.URL); n < 2 {
		t.Errorf("%d quota refusals counted, want the probe's and the sidecar's", n)
	}
	got := map[string]int{}
	for _, r := range storedRecords(t, dir) {
		if strings.HasPrefix(r.RequestID, "q-") {
			got[r.RequestID]++
		}
	}
	if len(got) != n {
		t.Errorf("stored %d of the sidecar's %d records", len(got), n)
	}
	for id, c := range got {
		if c != 1 {
			t.Errorf("record %s stored %d times", id, c)
		}
	}
}

// quotaRejects is the collector's count of quota refusals.
func quotaRejects(t *testing.T, url string) int {
	t.Helper()
	const series = `portcullis_collector_rejects_total{reason="quota"} `
	for _, l := range strings.Split(getMetricsWith(t, url, testToken), "\n") {
		if v, ok := strings.CutPrefix(l, series); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	t.Fatal("no quota series in /metrics")
	return 0
}
