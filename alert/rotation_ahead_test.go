package alert

import (
	"testing"
	"time"
)

// TestRotationWarningNotEarlyByRecordAhead: a record dated ahead of when
// the collector stored it, within --record-window and so not flagged,
// counts for the key rotation warnings at the time it was stored, as it
// does for every other rule (countedAt): at its own time, a record 14
// minutes ahead fired a key's warning 14 minutes before it was due. The
// warning then fires once, at its time, live, after a replay of the
// trail and after a restart from the snapshot.
func TestRotationWarningNotEarlyByRecordAhead(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"live", "replay", "snapshot"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, rotationPolicy(t))
			born := t0
			clock := r.simulated(born)
			r.snap = mode == "snapshot"
			r.restart()
			r.event(lifecycle(born, "key.create", "fresh0001", "alice", "", map[string]string{"client": "globex-bi"}))
			warnAt := born.Add(720*time.Hour - 168*time.Hour)
			restart := func(at time.Time) {
				t.Helper()
				if mode == "live" {
					return
				}
				if mode == "snapshot" {
					if err := r.eng.WriteSnapshot(at); err != nil {
						t.Fatal(err)
					}
				}
				r.restart()
				if mode == "snapshot" && r.stats.Snapshot == 0 {
					t.Fatalf("restart did not start from the snapshot: %+v", r.stats)
				}
			}
			warnings := func() []Alert {
				var out []Alert
				for _, a := range r.alerts("key-rotation-due") {
					if a.Key == "fresh0001" {
						out = append(out, a)
					}
				}
				return out
			}
			// Stored 14 minutes before the warning is due, dated a
			// minute after it.
			clock.set(warnAt.Add(-14 * time.Minute))
			r.send(rec(warnAt.Add(time.Minute)))
			if got := warnings(); len(got) != 0 {
				t.Fatalf("warning for fresh0001 opened %s by a record stored at %s, dated %s; want none before %s",
					got[0].Opened.Format(time.TimeOnly), warnAt.Add(-14*time.Minute).Format(time.TimeOnly), warnAt.Add(time.Minute).Format(time.TimeOnly), warnAt.Format(time.TimeOnly))
			}
			restart(warnAt.Add(-14 * time.Minute))
			clock.set(warnAt.Add(-time.Minute))
			r.send(rec(warnAt.Add(-time.Minute)))
			r.eng.Tick(warnAt.Add(-time.Second))
			if got := warnings(); len(got) != 0 {
				t.Fatalf("%s: warning for fresh0001 opened %s, want none before %s", mode, got[0].Opened.Format(time.TimeOnly), warnAt.Format(time.TimeOnly))
			}
			clock.set(warnAt)
			r.send(rec(warnAt))
			restart(warnAt)
			got := warnings()
			if len(got) != 1 || !got[0].Opened.Equal(warnAt) {
				t.Fatalf("%s: warnings for fresh0001 %+v, want one opened at %s", mode, got, warnAt.Format(time.TimeOnly))
			}
			n := 0
			for _, ev := range r.trailEvents(ActionOpen) {
				if ev.Time.Equal(warnAt) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s: %d alert.open events at %s in the trail, want 1", mode, n, warnAt.Format(time.TimeOnly))
			}
		})
	}
}
