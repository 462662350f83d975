package collector

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/portcullis/portcullis/audit"
)

// TestStoredBySurvivesCollectorRestart: a duplicate of a replay is
// answered with which request stored the batch after the collector
// restarted too, for a batch of a sealed segment and of the segment left
// open. Before, the answer was kept in memory only: after a restart it
// said nothing (audit.HeaderStoredBy absent), the sidecar fell back to
// its old rule, and a restored batch whose replay the collector stored,
// its answer lost, counted nowhere. The replay token is now stored with
// the batch and read back at start.
func TestStoredBySurvivesCollectorRestart(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	srv, st := collectorServer(t, dir, key)
	post := func(url, id, replay string) (int, string) {
		t.Helper()
		code, _, by := postReplay(t, url, id, []audit.Record{sampleRecord(0)}, replay)
		return code, by
	}
	const one, other = "00000000000000a1", "00000000000000b2"
	if code, _ := post(srv.URL, "inst-1", one); code != http.StatusOK {
		t.Fatalf("inst-1: %d", code)
	}
	if err := st.Rotate(); err != nil { // inst-1's segment sealed
		t.Fatal(err)
	}
	for _, b := range []struct{ id, replay string }{{"inst-2", ""}, {"inst-3", one}, {"inst-4", other}} {
		if code, _ := post(srv.URL, b.id, b.replay); code != http.StatusOK {
			t.Fatalf("%s: %d", b.id, code)
		}
	}
	srv.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	srv, st = collectorServer(t, dir, key)
	defer func() { srv.Close(); st.Close() }()
	for _, c := range []struct{ id, replay, want string }{
		{"inst-1", one, storedByThis},     // sealed segment
		{"inst-1", other, storedByBefore}, //
		{"inst-2", one, storedByLive},     // open segment
		{"inst-3", one, storedByThis},     //
		{"inst-4", one, storedByBefore},   //
		{"inst-4", "", ""},                // no token: nothing said
	} {
		if code, by := post(srv.URL, c.id, c.replay); code != http.StatusOK || by != c.want {
			t.Errorf("%s again (replay %q) after the restart: %d %s %q, want 200 and %q", c.id, c.replay, code, audit.HeaderStoredBy, by, c.want)
		}
	}
	if n := len(storedRecords(t, dir)); n != 4 {
		t.Errorf("stored %d records, want 4", n)
	}
}

// TestStoredByReplayPastRecentBatches: a replay stored, its answer lost,
// then more batches of its instance than the collector keeps counts for
// (dedupCounts: the sidecar's live batches, posted meanwhile), is answered
// "this" when the sidecar sends it again with the same token, before and
// after a restart of the collector. Before, only the last dedupCounts
// batches of an instance were told apart: the replay was answered
// "before", and the sidecar counted its batch neither replayed nor
// dropped.
func TestStoredByReplayPastRecentBatches(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	srv, st := collectorServer(t, dir, key)
	defer func() { srv.Close(); st.Close() }()
	const token = "00000000000000c3"
	post := func(url, id, replay string) (int, string) {
		t.Helper()
		code, _, by := postReplay(t, url, id, []audit.Record{sampleRecord(0)}, replay)
		return code, by
	}
	if code, _ := post(srv.URL, "inst-1", token); code != http.StatusOK {
		t.Fatalf("inst-1: %d", code)
	}
	for i := 2; i < 2+2*dedupCounts; i++ {
		if code, _ := post(srv.URL, "inst-"+strconv.Itoa(i), ""); code != http.StatusOK {
			t.Fatalf("inst-%d: %d", i, code)
		}
	}
	check := func(when string) {
		t.Helper()
		for _, c := range []struct{ id, replay, want string }{
			{"inst-1", token, storedByThis},
			{"inst-1", "00000000000000d4", storedByBefore},
			{"inst-2", token, storedByLive},
		} {
			if code, by := post(srv.URL, c.id, c.replay); code != http.StatusOK || by != c.want {
				t.Errorf("%s %s (replay %q): %d %s %q, want 200 and %q", when, c.id, c.replay, code, audit.HeaderStoredBy, by, c.want)
			}
		}
	}
	check("before the restart,")
	srv.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	srv, st = collectorServer(t, dir, key)
	check("after the restart,")
}
