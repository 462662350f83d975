package alert

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// traffic stores minutes of mixed traffic on r from start: ordinary
// requests from a few networks with bytes out, a guessing burst that opens
// alerts and grows them past a window (alert.update), 429s, exports, a
// key revocation and a revoked key still tried, a client from a new
// network, and an acknowledgement and a closure through stored events.
func traffic(r *rig, start time.Time, minutes int) {
	r.t.Helper()
	for m := range minutes {
		at := start.Add(time.Duration(m) * time.Minute)
		r.send(benchBatch(at)...)
		r.send(every(at.Add(10*time.Second), 500*time.Millisecond, 40, failed("acmehris1"), from("203.0.113.9"))...)
		r.send(every(at.Add(30*time.Second), 100*time.Millisecond, 30, limited)...)
		if m == 1 {
			r.event(collector.Event{Time: at, Key: "/portcullis/events/revoke-acmehris1", Revision: 7, Actor: "alice", Action: "key.revoke", Target: "acmehris1"})
		}
		if m == 2 {
			r.send(rec(at.Add(40*time.Second), from("198.51.100.20")))
			if a := r.alerts("token-guessing-client"); len(a) > 0 {
				id := a[0].ID
				r.event(lifecycle(at.Add(41*time.Second), ActionAck, id, "alice", "looking", nil),
					lifecycle(at.Add(42*time.Second), ActionClose, id, "alice", "rotated", map[string]string{"corrective_action": "rotate"}))
			}
		}
	}
}

// snapshotted returns a rig keeping snapshots that has taken three
// minutes of traffic from t0 and written its snapshot at t0.
func snapshotted(t *testing.T) *rig {
	t.Helper()
	r := newRig(t, examplePolicy(t))
	r.snap = true
	r.restart()
	traffic(r, t0, 3)
	if err := r.eng.WriteSnapshot(t0); err != nil {
		t.Fatal(err)
	}
	return r
}

// stateOf returns e's state encoding and position.
func stateOf(t *testing.T, e *Engine) ([]byte, uint64) {
	t.Helper()
	b, pos, err := e.stateJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b, pos
}

// fullReplay returns the state of a new engine that replayed the whole
// trail in r.dir (the store closed).
func fullReplay(t *testing.T, r *rig) ([]byte, uint64) {
	t.Helper()
	e, err := New(Config{Policy: r.doc})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Replay(r.dir); err != nil {
		t.Fatal(err)
	}
	return stateOf(t, e)
}

// TestBatchAlertEventsInBatchEntry: the alert events a batch's records
// fire are stored in that batch's own signed entry, not in an entry (an
// fsync) of their own, and every reader of alert events finds them there:
// QueryEvents, Load (alerts list, the evidence pack's alert file) and
// Verify's count.
func TestBatchAlertEventsInBatchEntry(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	r.send(every(t0, 100*time.Millisecond, 40, failed("acmehris1"))...)
	var kinds []string
	var opens int
	err := collector.ScanEntries(r.dir, func(en *collector.Entry) error {
		kinds = append(kinds, en.Kind)
		for _, ev := range en.Events {
			if ev.Action == ActionOpen {
				opens++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(kinds) != 1 || kinds[0] != collector.KindBatch || opens != 2 {
		t.Fatalf("entries %v with %d alert.open events, want one batch entry holding 2 (client and source)", kinds, opens)
	}
	if got := len(r.trailEvents(ActionOpen)); got != 2 {
		t.Errorf("QueryEvents found %d alert.open events, want 2", got)
	}
	if err := r.store.Close(); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	live := r.eng.Alerts()
	if len(loaded) != 2 || loaded[0].ID != live[0].ID || loaded[1].ID != live[1].ID || loaded[0].Count < 20 {
		t.Errorf("Load = %+v, want the 2 live alerts %+v", loaded, live)
	}
	rep, err := collector.Verify(r.dir, r.key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Events != 2 || rep.Batches != 1 {
		t.Errorf("verify: ok %v, %d batches, %d events, want ok, 1, 2: %+v", rep.OK(), rep.Batches, rep.Events, rep.Problems)
	}
}

// TestReplayEqualsLive: a new engine that replays the whole trail holds
// exactly the live engine's state (alerts and their counts, windows and
// baselines, learnt networks, revocations): alert events stored next to
// the records that fired them are opened at those records on replay.
func TestReplayEqualsLive(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	traffic(r, t0, 4)
	live, livePos := stateOf(t, r.eng)
	if err := r.store.Close(); err != nil {
		t.Fatal(err)
	}
	got, pos := fullReplay(t, r)
	if pos != livePos || !bytes.Equal(got, live) {
		t.Errorf("replayed state at seq %d differs from the live state at seq %d:\n got %s\nwant %s", pos, livePos, clipped(got), clipped(live))
	}
	if n := len(r.eng.Alerts()); n < 4 {
		t.Errorf("the traffic opened %d alerts, want at least 4 to compare", n)
	}
}

func clipped(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "..."
	}
	return string(b)
}

// TestRestoreFromSnapshot: a collector restarted with its snapshot holds
// the state a full replay of the trail gives (same open and closed
// alerts, counts, windows, baselines, networks), having read only the
// entries stored after the snapshot.
func TestRestoreFromSnapshot(t *testing.T) {
	t.Parallel()
	r := snapshotted(t)
	_, snapPos := stateOf(t, r.eng)
	traffic(r, t0.Add(3*time.Minute), 2) // the tail, after the snapshot
	live, livePos := stateOf(t, r.eng)
	r.restart()
	restored, pos := stateOf(t, r.eng)
	if r.stats.Snapshot != snapPos || r.stats.Ignored != "" {
		t.Fatalf("Restore = %+v, want it to start from the snapshot at seq %d", r.stats, snapPos)
	}
	if want := int(livePos - snapPos); r.stats.Entries != want {
		t.Errorf("Restore replayed %d entries, want the %d after the snapshot", r.stats.Entries, want)
	}
	if err := r.store.Close(); err != nil {
		t.Fatal(err)
	}
	full, fullPos := fullReplay(t, r)
	if pos != fullPos || !bytes.Equal(restored, full) {
		t.Errorf("state from the snapshot (seq %d) differs from a full replay (seq %d):\n got %s\nwant %s", pos, fullPos, clipped(restored), clipped(full))
	}
	if !bytes.Equal(restored, live) {
		t.Errorf("state from the snapshot differs from the live state before the restart")
	}
}

// TestRestoreReadsOnlyTheTail: with the trail in many segments, Restore
// from a snapshot reads the lines of the segment holding the snapshot's
// position and after, not the segments before (counted, not timed).
func TestRestoreReadsOnlyTheTail(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	r.snap, r.segMax = true, 64<<10
	r.restart()
	for i := range 200 {
		r.send(every(t0.Add(time.Duration(i)*time.Second), 10*time.Millisecond, 20)...)
	}
	if err := r.eng.WriteSnapshot(t0); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		r.send(every(t0.Add(time.Duration(200+i)*time.Second), 10*time.Millisecond, 20)...)
	}
	r.restart()
	if r.stats.Snapshot == 0 || r.stats.Entries != 3 {
		t.Fatalf("Restore = %+v, want 3 entries replayed after the snapshot", r.stats)
	}
	segs, _ := os.ReadDir(r.dir)
	perSeg := 200 / (len(segs) / 2)
	if r.stats.Lines > 2*perSeg+3 || len(segs) < 10 {
		t.Errorf("Restore read %d lines of %d segment files (about %d entries each), want at most two segments' worth", r.stats.Lines, len(segs)/2, perSeg)
	}
}

// resign rewrites the snapshot of r with edit applied to its payload and
// signed with key.
func resign(t *testing.T, r *rig, key ed25519.PrivateKey, edit func(*snapshot)) {
	t.Helper()
	data, err := os.ReadFile(r.snapshotPath())
	if err != nil {
		t.Fatal(err)
	}
	var f snapshotFile
	var s snapshot
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(f.Payload, &s); err != nil {
		t.Fatal(err)
	}
	edit(&s)
	f.Payload, _ = json.Marshal(&s)
	f.Sig = ed25519.Sign(key, signedSnapshot(f.Payload))
	out, _ := json.Marshal(&f)
	if err := os.WriteFile(r.snapshotPath(), out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// closeOpenAlerts is a tampering: every open alert marked closed, so that
// the attack going on would open a new one (or none).
func closeOpenAlerts(s *snapshot) {
	for i := range s.State.Alerts {
		s.State.Alerts[i].Status = StatusClosed
	}
	s.State.Open = nil
}

// TestRestoreIgnoresBadSnapshot: a snapshot that is corrupt, edited after
// it was signed, signed by another key, made for other rules, or names a
// position the trail does not hold (past the head, a wrong hash) is
// ignored with the reason, and the state is the full replay's.
func TestRestoreIgnoresBadSnapshot(t *testing.T) {
	t.Parallel()
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	cases := []struct {
		name   string
		spoil  func(t *testing.T, r *rig)
		reason string
	}{
		{"corrupt", func(t *testing.T, r *rig) {
			data, _ := os.ReadFile(r.snapshotPath())
			os.WriteFile(r.snapshotPath(), data[:len(data)/2], 0o600)
		}, "corrupt"},
		{"tampered", func(t *testing.T, r *rig) {
			data, _ := os.ReadFile(r.snapshotPath())
			edited := bytes.Replace(data, []byte(`"status":"open"`), []byte(`"status":"closed"`), -1)
			if bytes.Equal(edited, data) {
				t.Fatal("the snapshot holds no open alert to tamper with")
			}
			data = edited
			os.WriteFile(r.snapshotPath(), data, 0o600)
		}, "not signed"},
		{"other key", func(t *testing.T, r *rig) { resign(t, r, other, closeOpenAlerts) }, "not signed"},
		{"past the head", func(t *testing.T, r *rig) { resign(t, r, r.key, func(s *snapshot) { s.Seq += 50 }) }, "does not match the trail"},
		{"wrong hash", func(t *testing.T, r *rig) {
			resign(t, r, r.key, func(s *snapshot) { closeOpenAlerts(s); s.Hash = strings.Repeat("ab", 32) })
		}, "does not match the trail"},
		{"other rules", func(t *testing.T, r *rig) { resign(t, r, r.key, func(s *snapshot) { s.Rules = "x" }) }, "other detection rules"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := snapshotted(t)
			r.send(every(t0.Add(3*time.Minute), time.Second, 5, failed("acmehris1"))...)
			if err := r.store.Close(); err != nil {
				t.Fatal(err)
			}
			c.spoil(t, r)
			want, wantPos := fullReplay(t, r)
			r.open()
			if r.stats.Snapshot != 0 || !strings.Contains(r.stats.Ignored, c.reason) {
				t.Fatalf("Restore = %+v, want the snapshot ignored because %q", r.stats, c.reason)
			}
			got, pos := stateOf(t, r.eng)
			if pos != wantPos || !bytes.Equal(got, want) {
				t.Errorf("state after the ignored snapshot (seq %d) differs from a full replay (seq %d)", pos, wantPos)
			}
		})
	}
}
