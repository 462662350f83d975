package evidence

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// A revocation deleted by hand in etcd, which the collector's follower
// stores as a flagged revocation.deleted_unattributed event (etcdadmin
// FollowEvents), is a credential change of the period: the key was
// revoked no more. The lifecycle log listed only the changes written with
// their events, so the pack of the period said nothing of it; it now has
// its row, with the reason it is unverified.
func TestPackListsARevocationDeletedByHand(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	const why = `revocation of "acmehris7" deleted at etcd revision 5 with no token.revocation_expired event in its transaction (deleted by hand): the key or token is no longer revoked`
	ev := collector.Event{Time: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC), Key: "/p/revocations/acmehris7", Revision: 5,
		Action: "revocation.deleted_unattributed", Target: "acmehris7", Unverified: why}
	if err := st.AppendEvents([]collector.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SignHead(time.Now()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	res := packMay(t, data, out, key)
	rows := readCSV(t, filepath.Join(res.Dir, "APIAuth-TokenLifecycleLog-2026-05.csv"))
	for _, r := range rows[1:] {
		if r[1] == "revocation.deleted_unattributed" {
			if r[2] != "acmehris7" || r[6] != "5" || r[7] != why {
				t.Errorf("row %q: want target acmehris7, revision 5 and why it is unverified", r)
			}
			return
		}
	}
	t.Errorf("no row of the revocation deleted by hand in the lifecycle log: %q", rows)
}
