package evidence

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestHeadGoingBackInTimeDatesNothing: a head of the collector's own,
// signed at 01:30 and never published (its publication lost, or a copy of
// head.json), put in etcd after pod-x's record was deleted at 12:30. Its
// seq is the one the head of 02:00, published before it, names, and its
// payload differs from every head put before it, so it verified, passed
// the seq order and dated the delete at 01:30: pod-x's span was cut to
// 01:30 and its silence from 01:00 hidden. A head's time may not go back
// for the same or a later seq: such a head dates nothing and is named.
func TestHeadGoingBackInTimeDatesNothing(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 5, 12, 0, 0, 0, 0, time.UTC)
	r := newMemberRig(t, day.Add(30*time.Minute), collector.SenderToken{Name: "sidecar-x", Token: tokenA})
	r.publishHead()
	lease := r.member("pod-x", day.Add(30*time.Minute), day.Add(30*time.Minute))
	r.set(day.Add(time.Hour))
	r.send(r.emitter("pod-x", tokenA))
	r.set(day.Add(90 * time.Minute))
	held, err := r.st.SignHead(r.now())
	if err != nil {
		t.Fatal(err)
	}
	r.set(day.Add(2 * time.Hour))
	r.publishHead()
	r.set(day.Add(12*time.Hour + 30*time.Minute))
	if _, err := r.cli.Revoke(r.ctx, lease); err != nil {
		t.Fatal(err)
	}
	if _, err := r.cli.Put(r.ctx, r.lay.AuditHead(), string(held)); err != nil {
		t.Fatal(err)
	}
	r.set(day.Add(13 * time.Hour))
	r.publishHead()
	res := r.pack("2026-05-12")
	if want := `"pod-x" (token:sidecar-x): no batch stored 2026-05-12T01:00:00Z to 2026-05-12T13:00:00Z`; !warned(res, want) {
		t.Errorf("warnings %q: none says %q (the head signed at 01:30, put after the delete, cut pod-x's span)", res.Warnings, want)
	}
	if want := "INCOMPLETE: 1 audit head(s) put in etcd under audit/head are not the collector's heads in order: revision "; !warned(res, want) {
		t.Errorf("warnings %q: none says %q", res.Warnings, want)
	}
	if want := "names a time (2026-05-12T01:30:00Z) before 2026-05-12T02:00:00Z, the time of a head at a lower revision"; !warned(res, want) {
		t.Errorf("warnings %q: none says %q", res.Warnings, want)
	}
}
