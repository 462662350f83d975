//go:build linux

package audit

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// replayRemadeCollector serves a collector over loopback that answers 503
// until up is set; then, at the first batch it receives (a spooled one,
// replayed), it deletes the spool directory dir and has it made again, as
// the spooler does when a write fails there (remake), before it answers
// first (200 delivered; 408 too slow: the batch is cut in two; 503: kept
// for another try, with nothing left to try); every
// batch after is answered 200. The hook puts the remake inside the
// replay's delivery every time.
func replayRemadeCollector(t *testing.T, dir string, first int, e *atomic.Pointer[Emitter], up *atomic.Bool) string {
	t.Helper()
	var done atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if !up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if done.CompareAndSwap(false, true) {
			if err := os.RemoveAll(dir); err != nil {
				t.Error(err)
			}
			if first != http.StatusRequestTimeout { // the spooler's remake; a split's write makes it itself
				if err := e.Load().sp.remake(); err != nil {
					t.Errorf("the spooler's remake: %v", err)
				}
			}
			w.WriteHeader(first)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// A spooled batch the replay was delivering, or cutting in two, when the
// spool directory was deleted and made again (remake) was counted lost
// by remake with the directory, and then counted again where it went:
// replayed when the collector took it, or replayed from its halves,
// written into the new directory. 64 records captured, 64 replayed and
// 64 dropped. remake now leaves the batch the replay holds to the
// replay, which counts it lost only when it is kept for another try it
// cannot have: then it is lost, counted once.
func TestSpoolBatchInFlightWhenDirectoryMadeAgainCountedOnce(t *testing.T) {
	for _, tc := range []struct {
		name           string
		first          int
		replayed, lost uint64
	}{
		{"delivered", http.StatusOK, 64, 0},
		{"split", http.StatusRequestTimeout, 64, 0},
		{"kept", http.StatusServiceUnavailable, 0, 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "spool")
			var ep atomic.Pointer[Emitter]
			var up atomic.Bool
			url := replayRemadeCollector(t, dir, tc.first, &ep, &up)
			e, err := NewEmitter(fastConfig(url, dir))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { e.Close() })
			ep.Store(e)
			emitN(t, e, 64)
			waitFor(t, "64 records spooled", func() bool { return e.Stats().SpoolRecords == 64 })
			up.Store(true)
			waitFor(t, "the 64 records replayed or dropped", func() bool {
				st := e.Stats()
				return st.Replayed == tc.replayed && st.DroppedSpool >= tc.lost
			})
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			if st := e.Stats(); st.Replayed != tc.replayed || st.DroppedSpool != tc.lost || st.SpoolFiles != 0 {
				t.Errorf("%d records replayed, %d dropped, %d batches spooled; want %d replayed, %d dropped, none spooled (%+v)", st.Replayed, st.DroppedSpool, st.SpoolFiles, tc.replayed, tc.lost, st)
			}
		})
	}
}
