package evidence

import (
	"strconv"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestPodFloodKeepsRotations: a stolen sender credential naming a new pod
// in each of its batches, past the pods the pack follows of one sender,
// turned SENDER ROTATED off for every pod: pod-a's sidecar, restarted at
// 11:50 with a new token, read SENDERS DIFFER and its old sender silent
// from 11:30 to the day's end, a false INCOMPLETE that hides the rotation
// the reviewer is to match with its change record. The pods followed keep
// their rotations; a pod a batch not followed named (pod-b, named by the
// thief past its bound) is still no rotation, for that batch's sender is
// not among those checked; and the flood's sender is named.
func TestPodFloodKeepsRotations(t *testing.T) {
	t.Parallel()
	const (
		tokenD = "sidecar-d-token-0123456789abcdef0123"
		tokenT = "thief-token-0123456789abcdef01234567"
	)
	day := time.Date(2026, 5, 12, 0, 0, 0, 0, time.UTC)
	r := newMemberRig(t, day.Add(30*time.Minute),
		collector.SenderToken{Name: "sidecar-a", Token: tokenA}, collector.SenderToken{Name: "sidecar-a2", Token: tokenB},
		collector.SenderToken{Name: "sidecar-b", Token: tokenC}, collector.SenderToken{Name: "sidecar-b2", Token: tokenD},
		collector.SenderToken{Name: "thief", Token: tokenT})
	r.maxPerSender = 20
	leaseA := r.member("pod-a", day.Add(30*time.Minute), day.Add(30*time.Minute))
	leaseB := r.member("pod-b", day.Add(30*time.Minute), day.Add(30*time.Minute))
	a, b := r.emitter("pod-a", tokenA), r.emitter("pod-b", tokenC)
	for h := 1; h <= 11; h++ {
		r.set(day.Add(time.Duration(h)*time.Hour + 30*time.Minute))
		r.send(a)
		r.send(b)
		if h == 2 {
			// The flood, after the fleet's first batches: a new pod
			// in each batch, then one naming pod-b, past the bound.
			for i := range r.maxPerSender + 1 {
				r.send(r.emitter("pod-thief-"+strconv.Itoa(i), tokenT))
			}
			r.send(r.emitter("pod-b", tokenT))
		}
	}
	r.set(day.Add(11*time.Hour + 40*time.Minute))
	for _, l := range []clientv3.LeaseID{leaseA, leaseB} {
		if _, err := r.cli.Revoke(r.ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	r.set(day.Add(11*time.Hour + 50*time.Minute))
	r.member("pod-a", day.Add(11*time.Hour+50*time.Minute), day.Add(11*time.Hour+50*time.Minute))
	r.member("pod-b", day.Add(11*time.Hour+50*time.Minute), day.Add(11*time.Hour+50*time.Minute))
	a2, b2 := r.emitter("pod-a", tokenB), r.emitter("pod-b", tokenD)
	for h := 12; h < 24; h++ {
		r.set(day.Add(time.Duration(h) * time.Hour))
		r.send(a2)
		r.send(b2)
	}
	res := r.pack("2026-05-12")
	if want := `"pod-a" ("token:sidecar-a" 2026-05-12T01:30:00Z to 2026-05-12T11:30:00Z, then "token:sidecar-a2" 2026-05-12T12:00:00Z to 2026-05-12T23:00:00Z)`; !warned(res, "SENDER ROTATED") || !warned(res, want) {
		t.Errorf("no warning names pod-a's rotation %s: %q", want, res.Warnings)
	}
	if warned(res, `"pod-a" (token:`) {
		t.Errorf("pod-a's rotation read as a sender's silence: %q", res.Warnings)
	}
	if want := `SENDERS DIFFER`; !warned(res, want) || !warned(res, `"pod-b" ("token:sidecar-b", "token:sidecar-b2")`) {
		t.Errorf("pod-b, named by a batch not followed, is not SENDERS DIFFER: %q", res.Warnings)
	}
	if want := "name pods the pack did not follow: token:thief: 2 batches"; !warned(res, want) {
		t.Errorf("no warning says %q: %q", want, res.Warnings)
	}
	if want := "--max-instances-per-sender 22"; !warned(res, want) {
		t.Errorf("no warning says what to do, %q: %q", want, res.Warnings)
	}
}
