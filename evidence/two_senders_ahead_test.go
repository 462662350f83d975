package evidence

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestTwoSendersNamingRevisionsAheadRefutedByAHead: a revision dates
// from when a second sender named it, so two compromised credentials
// (pod-y's and pod-z's, sidecars of this etcd) sent at 01:00 records
// naming the twenty revisions ahead. pod-x, silent after 01:00, was
// deleted at 05:00, one of those revisions; the collector had published
// a head at 03:00, at a revision below the delete. The two senders'
// word dated the delete at 01:00 and the pack named no silence of
// pod-x, though the head shows the delete was written after 03:00. A
// reading of the records that dates a revision before the time of a head
// put at a lower revision is false, and now dates nothing.
func TestTwoSendersNamingRevisionsAheadRefutedByAHead(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 5, 12, 0, 0, 0, 0, time.UTC)
	r := newMemberRig(t, day.Add(30*time.Minute), collector.SenderToken{Name: "sidecar-x", Token: tokenA}, collector.SenderToken{Name: "sidecar-y", Token: tokenB},
		collector.SenderToken{Name: "sidecar-z", Token: tokenC})
	r.publishHead()
	lease := r.member("pod-x", day.Add(30*time.Minute), day.Add(30*time.Minute))
	r.member("pod-y", day.Add(30*time.Minute), day.Add(30*time.Minute))
	r.member("pod-z", day.Add(30*time.Minute), day.Add(30*time.Minute))
	at, err := r.cli.Get(r.ctx, r.lay.Member("pod-z"))
	if err != nil {
		t.Fatal(err)
	}
	x, y, z := r.emitter("pod-x", tokenA), r.emitter("pod-y", tokenB), r.emitter("pod-z", tokenC)
	r.set(day.Add(time.Hour))
	r.send(x)
	for ahead := int64(1); ahead <= 20; ahead++ {
		r.sendAt(y, at.Header.Revision+ahead)
		r.sendAt(z, at.Header.Revision+ahead)
	}
	r.set(day.Add(3 * time.Hour))
	r.publishHead()
	r.set(day.Add(5 * time.Hour))
	if _, err := r.cli.Revoke(r.ctx, lease); err != nil {
		t.Fatal(err)
	}
	r.set(day.Add(6 * time.Hour))
	r.publishHead()
	res := r.pack("2026-05-12")
	if want := `"pod-x" (token:sidecar-x): no batch stored 2026-05-12T01:00:00Z to 2026-05-12T06:00:00Z`; !warned(res, want) {
		t.Errorf("warnings %q: none says %q (two senders' records naming revisions ahead dated pod-x's delete at 01:00, before the head of 03:00 put below it)", res.Warnings, want)
	}
}
