package collector

import (
	"net/http"
	"testing"

	"github.com/portcullis/portcullis/audit"
)

// TestStoredByOfOlderCollectorNotKnown: a batch an older collector
// stored, before the entry carried a "replay" field, was read back at
// start as one stored by the sidecar's first post of it, and a replay of
// it was answered "live": the trail does not say which request stored
// it, and the sidecar counted the batch on that word (replayed, or
// restored again). Such a batch is now answered with nothing ("", not
// known), and the sidecar keeps its rule of before; one this collector
// stored from a first post, whose entry says so ("replay":""), is still
// answered "live".
func TestStoredByOfOlderCollectorNotKnown(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	srv, st := collectorServer(t, dir, key)
	const one = "00000000000000a1"
	post := func(url, id, replay string) (int, string) {
		t.Helper()
		code, _, by := postReplay(t, url, id, []audit.Record{sampleRecord(0)}, replay)
		return code, by
	}
	if code, _ := post(srv.URL, "inst-1", one); code != http.StatusOK {
		t.Fatalf("inst-1: %d", code)
	}
	// inst-2 as a collector before the field stored it, whichever
	// request carried it: no "replay" field.
	st.mu.Lock()
	body := append(st.bodyHeader(nil, KindBatch), `,"batch_id":"inst-2","sender":"token:default","service":"svc","host":"h","instance":"i","records":[]}`...)
	err := st.appendLocked(body)
	st.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := post(srv.URL, "inst-3", ""); code != http.StatusOK {
		t.Fatalf("inst-3: %d", code)
	}
	srv.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if rep, err := Verify(dir, pubOf(key)); err != nil || !rep.OK() || rep.Batches != 3 {
		t.Fatalf("verify: %v, %+v; want 3 batches, no problem", err, rep)
	}

	srv, st = collectorServer(t, dir, key)
	defer func() { srv.Close(); st.Close() }()
	for _, c := range []struct{ id, want string }{
		{"inst-1", storedByThis},
		{"inst-2", ""}, // an older collector's: not known
		{"inst-3", storedByLive},
	} {
		if code, by := post(srv.URL, c.id, one); code != http.StatusOK || by != c.want {
			t.Errorf("%s again (replay %q) after the restart: %d %s %q, want 200 and %q", c.id, one, code, audit.HeaderStoredBy, by, c.want)
		}
	}
}
