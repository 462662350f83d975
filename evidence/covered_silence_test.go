package evidence

import (
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestPeriodCoveredNamesUncheckedSilence: the Senders section said
// SILENCE NOT CHECKED for a sidecar in file mode (no member record names
// its pod) and for batches naming no pod, and said nothing of pods whose
// batches one sender token sent for all of them (any holder of it can
// name another's pod and cover its silence), while the signed manifest,
// uploaded alone to an evidence library, claimed Period Covered plain of
// that caveat. It now names each.
func TestPeriodCoveredNamesUncheckedSilence(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 5, 12, 0, 0, 0, 0, time.UTC)
	covered := func(t *testing.T, res *Result, want string) {
		t.Helper()
		for _, r := range res.Files {
			if !strings.Contains(r.Period, want) {
				t.Fatalf("manifest row %s: Period Covered %q does not name %q", r.File, r.Period, want)
			}
		}
		if got, err := Covered(res.Zip); err != nil || !strings.Contains(got, want) {
			t.Errorf("Covered(zip) = %q, %v; want it to name %q", got, err, want)
		}
	}
	t.Run("file mode", func(t *testing.T) {
		t.Parallel()
		r := newMemberRig(t, day.Add(30*time.Minute), collector.SenderToken{Name: "sidecar-a", Token: tokenA}, collector.SenderToken{Name: "sidecar-f", Token: tokenB})
		r.member("pod-a", day, day)
		a, f := r.emitter("pod-a", tokenA), r.emitter("pod-f", tokenB)
		r.set(day.Add(time.Hour))
		r.send(f)
		r.send(a)
		covered(t, r.pack("2026-05-12"), "silence NOT CHECKED for 1 sidecar(s) no member record names")
	})
	t.Run("shared sender token", func(t *testing.T) {
		t.Parallel()
		r := newMemberRig(t, day.Add(30*time.Minute), collector.SenderToken{Name: "shop", Token: tokenA})
		r.member("pod-a", day, day)
		r.member("pod-b", day, day)
		a, b := r.emitter("pod-a", tokenA), r.emitter("pod-b", tokenA)
		for h := 1; h < 24; h++ {
			r.set(day.Add(time.Duration(h) * time.Hour))
			r.send(a)
			r.send(b)
		}
		res := r.pack("2026-05-12")
		covered(t, res, "silence NOT CHECKED apart for 2 pod(s) sharing a sender token")
		if want := `SHARED SENDER: the batches of 1 sender(s) name more than one pod: token:shop ("pod-a", "pod-b")`; !warned(res, want) {
			t.Errorf("warnings %q: none says %q", res.Warnings, want)
		}
	})
	t.Run("no etcd", func(t *testing.T) {
		t.Parallel()
		key := newKey(t)
		data := t.TempDir()
		activity(t, data, key)
		hist, err := HistoryFromFile("../examples/policy.yaml")
		if err != nil {
			t.Fatal(err)
		}
		q2, _ := ParsePeriod("2026-Q2")
		res, err := Pack(Config{Period: q2, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Anchor: headAnchor(t, data, key)})
		if err != nil {
			t.Fatal(err)
		}
		covered(t, res, "silence NOT CHECKED, no member records (built without --etcd)")
	})
}
