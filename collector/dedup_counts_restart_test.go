package collector

import (
	"bytes"
	"crypto/ed25519"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/portcullis/portcullis/audit"
)

// TestDuplicateCountsSurviveRestart: the twin of a batch stored before
// the collector restarted (audit: settleLate, the same id and the first
// record only) is answered with the records the batch holds, for a batch
// of a sealed segment and one of the segment left open. Before, the
// counts were kept in memory only: after a restart the answer was
// "unknown", and the sidecar, taking the batch's first record only as
// held, sent the rest again under new ids, stored twice.
func TestDuplicateCountsSurviveRestart(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	start := func() (*httptest.Server, *Store) { return collectorServer(t, dir, key) }
	records := func(from, n int) []audit.Record {
		out := make([]audit.Record, n)
		for i := range out {
			out[i] = sampleRecord(from + i)
		}
		return out
	}
	send := func(url, id string, recs []audit.Record) (int, string) {
		t.Helper()
		code, dup, _ := postReplay(t, url, id, recs, "")
		return code, dup
	}

	srv, st := start()
	sealed, open := records(0, 5), records(5, 3)
	if code, dup := send(srv.URL, "inst-1", sealed); code != http.StatusOK || dup != "" {
		t.Fatalf("batch inst-1: %d %q", code, dup)
	}
	if err := st.Rotate(); err != nil { // inst-1's segment sealed
		t.Fatal(err)
	}
	if code, dup := send(srv.URL, "inst-2", open); code != http.StatusOK || dup != "" {
		t.Fatalf("batch inst-2: %d %q", code, dup)
	}
	if code, dup := send(srv.URL, "inst-1", sealed[:1]); code != http.StatusOK || dup != "5" {
		t.Fatalf("twin of inst-1 before the restart: %d %s %q, want 200 and 5", code, audit.HeaderDuplicate, dup)
	}
	srv.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	srv, st = start()
	defer func() { srv.Close(); st.Close() }()
	for _, tc := range []struct {
		id   string
		twin audit.Record
		want string
	}{{"inst-1", sealed[0], "5"}, {"inst-2", open[0], "3"}} {
		if code, dup := send(srv.URL, tc.id, []audit.Record{tc.twin}); code != http.StatusOK || dup != tc.want {
			t.Errorf("twin of %s after the restart: %d %s %q, want 200 and %s", tc.id, code, audit.HeaderDuplicate, dup, tc.want)
		}
	}
	if n := len(storedRecords(t, dir)); n != 8 {
		t.Errorf("stored %d records, want 8 (the twins not stored)", n)
	}
}

// collectorServer opens the store in dir, signed with key, and serves a
// Collector on it over loopback; the caller closes both.
func collectorServer(t *testing.T, dir string, key ed25519.PrivateKey) (*httptest.Server, *Store) {
	t.Helper()
	st, err := OpenStore(dir, StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	col, err := New(st, Config{Token: testToken, MaxBodyBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return httptest.NewServer(col), st
}

// postReplay posts batch id of recs to the collector at url, with replay
// as its audit.HeaderReplay when not "", and returns the answer's status,
// audit.HeaderDuplicate and audit.HeaderStoredBy.
func postReplay(t *testing.T, url, id string, recs []audit.Record, replay string) (code int, dup, storedBy string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/logs", bytes.NewReader(encodeBatch(id, recs...)))
	req.Header.Set("Content-Type", FormatProtobuf)
	req.Header.Set("Authorization", "Bearer "+testToken)
	if replay != "" {
		req.Header.Set(audit.HeaderReplay, replay)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get(audit.HeaderDuplicate), resp.Header.Get(audit.HeaderStoredBy)
}

// TestRecordCount: recovery counts a batch's records by the top-level
// elements of its array, whatever their strings hold.
func TestRecordCount(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{
		`null`: 0, `[]`: 0, `[ ]`: 0, `[{}]`: 1, `[{"a":[1,2]},{"b":"x,]}\"{,"}]`: 2,
		`[{"p":"\\"},{"q":"\\\","},{}]`: 3,
	} {
		var c recordCount
		if err := c.UnmarshalJSON([]byte(in)); err != nil || int(c) != want {
			t.Errorf("recordCount(%s) = %d, %v; want %d", in, c, err, want)
		}
	}
}
