//go:build linux

package alert

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/tmpfs"
)

// TestFailedAppendKeepsAlertEvents: a batch whose records open alerts but
// whose entry cannot be written (a full disk) loses no alert: the alert
// events are stored with the next entry, OnOpen (the ticket) waits until
// they are stored, and no snapshot is written of a state that holds
// records the trail does not.
func TestFailedAppendKeepsAlertEvents(t *testing.T) {
	t.Parallel()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	r := &rig{t: t, dir: filepath.Join(tmpfs.Mount(t, 1<<20), "audit"), key: key, doc: examplePolicy(t), snap: true}
	r.open()
	r.send(rec(t0))
	filler := tmpfs.Fill(t, filepath.Dir(r.dir))
	err := r.store.AppendBatch(&collector.Batch{ID: "burst", Sender: "token:test", Records: every(t0, 100*time.Millisecond, 40, failed("acmehris1"))})
	if err == nil {
		t.Fatal("the burst was stored on a full disk; the test needs it refused")
	}
	if len(r.opens) != 0 {
		t.Errorf("OnOpen called for %d alerts whose events are not stored, want 0", len(r.opens))
	}
	if err := r.eng.WriteSnapshot(t0); !errors.Is(err, ErrNoSnapshot) {
		t.Errorf("WriteSnapshot after the failed append = %v, want ErrNoSnapshot", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	r.send(rec(t0.Add(5 * time.Second)))
	if len(r.opens) != 2 {
		t.Errorf("OnOpen called for %d alerts after the next entry was stored, want 2 (client and source)", len(r.opens))
	}
	if got := len(r.trailEvents(ActionOpen)); got != 2 {
		t.Errorf("%d alert.open events in the trail, want 2 (stored with the next batch)", got)
	}
	r.restart()
	if got := len(r.eng.Alerts()); got != 2 || r.stats.Snapshot != 0 {
		t.Errorf("after a restart: %d alerts from snapshot seq %d, want 2 from the whole trail", got, r.stats.Snapshot)
	}
}
