package evidence

import "testing"

// TestManifestPeriodSaysWhatTheChecklistDoubts: the checklist answered
// the trail's questions "Not shown (the store was NOT VERIFIED ...)" for
// a pack made without the collector's key, and "Yes (ROLLBACK NOT
// CHECKED ...)" for one checked against no published head, while the
// signed manifest, uploaded to an evidence library on its own, said
// Period Covered "2026-Q2" plain, and `evidence verify` named that in its
// OK line. The manifest now says what the checklist does.
func TestManifestPeriodSaysWhatTheChecklistDoubts(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	data := t.TempDir()
	activity(t, data, key)
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	q2, _ := ParsePeriod("2026-Q2")
	file := FileName("APILogging", "RetentionSettings", q2.Name, "md")
	// Built without etcd, no member record says which sidecars were
	// live: silence is not checked (TestPeriodCoveredNamesUncheckedSilence).
	const noEtcd = "silence NOT CHECKED, no member records (built without --etcd)"
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no collector key", Config{}, "2026-Q2 (the store was NOT VERIFIED, no collector key was given; " + noEtcd + ": see " + file + ")"},
		{"no published head", Config{SigningKey: key}, "2026-Q2 (ROLLBACK NOT CHECKED, no published head; " + noEtcd + ": see " + file + ")"},
		{"checked against its head", Config{SigningKey: key, Anchor: headAnchor(t, data, key)}, "2026-Q2 (" + noEtcd + ": see " + file + ")"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Period, cfg.DataDir, cfg.History, cfg.Out, cfg.Retention = q2, data, hist, t.TempDir(), "400d"
			res, err := Pack(cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Files {
				if r.Period != tt.want {
					t.Fatalf("manifest row %s: Period Covered %q, want %q", r.File, r.Period, tt.want)
				}
			}
			if got, err := Covered(res.Zip); err != nil || got != tt.want {
				t.Errorf("Covered(zip) = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
