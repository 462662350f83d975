package collector

import (
	"strconv"
	"testing"
)

// TestForgottenInstanceLateBatchStored: a sender keeps the state of its
// dedupInstances most recently heard instances, and a fleet of more
// sidecars on one token (the default single token, or a restart each)
// has its instances forgotten between their batches. A batch of a
// forgotten instance arriving after a later one of it (its post answered
// 503 collector_busy, retried after the later batch was stored) was
// refused 409 batch_outside_window, since only the instance's newest
// sequence was kept, and the sidecar drops a batch so refused: its
// records, never stored, were lost. The last sequences of a forgotten
// instance are now remembered exactly: the late batch is stored, once,
// and a retry of a stored one is acknowledged as the duplicate it is.
func TestForgottenInstanceLateBatchStored(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startCollector(t, dir, newTestKey(t), StoreConfig{})
	send := func(id string) (int, string) {
		t.Helper()
		r := sampleRecord(0)
		r.SetRequestID([]byte(id))
		code, e, _ := postAnswer(t, srv.URL, testToken, encodeBatch(id, r))
		return code, e
	}
	for _, id := range []string{"late-1", "late-3", "far-100"} {
		if code, e := send(id); code != 200 {
			t.Fatalf("%s: status %d %s, want 200", id, code, e)
		}
	}
	for i := range dedupInstances {
		if code, e := send("pod" + strconv.Itoa(i) + "-1"); code != 200 {
			t.Fatalf("pod%d-1: status %d %s, want 200", i, code, e)
		}
	}
	for _, id := range []string{"late-2", "late-2", "late-3", "late-1"} {
		if code, e := send(id); code != 200 {
			t.Errorf("%s, its instance forgotten: status %d %s, want 200 (stored, or a duplicate of a stored batch)", id, code, e)
		}
	}
	// Further below a forgotten instance's newest than the sequences kept
	// of it: not known, so refused, never stored twice.
	if code, e := send("far-1"); code != 409 || e != "batch_outside_window" {
		t.Errorf("far-1, %d below its forgotten instance's newest: status %d %q, want 409 batch_outside_window", 99, code, e)
	}
	srv.Close()
	st.Close()
	stored := map[string]int{}
	for _, r := range storedRecords(t, dir) {
		stored[r.RequestID]++
	}
	for _, id := range []string{"late-1", "late-2", "late-3"} {
		if stored[id] != 1 {
			t.Errorf("batch %s stored %d times, want once", id, stored[id])
		}
	}
}
