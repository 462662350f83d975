package evidence

import (
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

const revokedQuestion = "| Can tokens be rotated and revoked quickly? |"

// revocationStore writes a store holding the revocation of key acmehris1
// and the suspension of client globex-bi on 2026-05-10, a suspended
// denial of globex-bi after it, and after the revocation the records of
// the key given.
func revocationStore(t *testing.T, dir string, recs ...collector.StoredRecord) {
	t.Helper()
	// The store runs since Q2 began (sinceQ2): one begun later is no
	// evidence of the whole quarter, and its answers are "Not shown"
	// (TestIncompletePackAnswersNoBareYes). The events are stored at its
	// start (when is not the point here), the records at 14:00, after
	// they were made.
	at := func(h int) time.Time { return time.Date(2026, 5, 10, h, 0, 0, 0, time.UTC) }
	clock := sinceQ2()
	st, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: checklistKey, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	evs := []collector.Event{
		{Time: at(12), Key: "/p/events/1", Revision: 41, Actor: "alice", Action: "key.revoke", Target: "acmehris1", Reason: "leaked", Ticket: "SEC-9"},
		{Time: at(12), Key: "/p/events/2", Revision: 42, Actor: "alice", Action: "client.suspend", Target: "globex-bi", Reason: "abuse", Ticket: "SEC-10"},
	}
	if err := st.AppendEvents(evs); err != nil {
		t.Fatal(err)
	}
	suspended := collector.StoredRecord{Time: at(13), Tenant: "globex", Client: "globex-bi", KeyID: "globexbi1", Method: "GET",
		Route: "/v1/reports/{id}", Path: "/v1/reports/1", Status: 403, Decision: "suspended", RequestID: "r-s", SourceIP: "192.0.2.8"}
	clock = at(14)
	if err := st.AppendBatch(&collector.Batch{ID: "b1", Sender: "token:sidecar-1", Records: append(recs, suspended)}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// keyDenial is a 401 of key acmehris1 with decision at 13:00, after its
// revocation, as the sidecar records it (no client: none authenticated).
func keyDenial(decision, requestID string) collector.StoredRecord {
	return collector.StoredRecord{Time: time.Date(2026, 5, 10, 13, 0, 0, 0, time.UTC), KeyID: "acmehris1", Method: "GET",
		Route: "/v1/users", Path: "/v1/users", Status: 401, Decision: decision, RequestID: requestID, SourceIP: "203.0.113.9"}
}

// A revocation is proven enforced only by a key_revoked record of its key:
// the sidecar saw the key's own secret and refused it as revoked. Anyone
// can make a sidecar that never applied the revocation write an
// unauthenticated record of the key's id, by sending pk_<id>_<garbage>;
// before, those counted as the sidecar's first denial of the revoked key
// and the checklist answered Yes.
func TestRevocationProvenOnlyByKeyRevoked(t *testing.T) {
	t.Run("wrong secrets only", func(t *testing.T) {
		data := t.TempDir()
		revocationStore(t, data, keyDenial("unauthenticated", "r-1"), keyDenial("unauthenticated", "r-2"))
		list, _ := packChecklist(t, data, "2026-Q2")
		if got := answerOf(t, list, revokedQuestion); got != "No" ||
			!strings.Contains(list, "2 revocations/suspensions in period, 1 with a denial after them") {
			t.Errorf("unauthenticated records of the revoked key's id answered %s:\n%s", got, list)
		}
	})
	t.Run("key_revoked", func(t *testing.T) {
		data := t.TempDir()
		revocationStore(t, data, keyDenial("unauthenticated", "r-1"), keyDenial("key_revoked", "r-2"))
		list, _ := packChecklistWith(t, data, "2026-Q2", sidecars(false))
		if got := answerOf(t, list, revokedQuestion); got != "Yes" ||
			!strings.Contains(list, "2 revocations/suspensions in period, 2 with a denial after them") {
			t.Errorf("a key_revoked record of the revoked key answered %s:\n%s", got, list)
		}
	})
}

// sidecars returns the member records of two live sidecars as etcd
// holds them (TestMemberTrailsAcknowledgeRevocation reads them from a
// real etcd): pod-a applied revision 42, which carried revocationStore's
// revocation (41) and suspension (42), 20 seconds after them; pod-b
// applied it too, or, stuck, is still at revision 40.
func sidecars(stuck bool) func(int64) ([]etcdadmin.MemberTrail, []string, error) {
	at := func(h, m, s int) time.Time { return time.Date(2026, 5, 10, h, m, s, 0, time.UTC) }
	b := etcdadmin.MemberTrail{Pod: "pod-b", Versions: []etcdsync.Member{{Pod: "pod-b", Revision: 40, Updated: at(11, 0, 0)}, {Pod: "pod-b", Revision: 42, Updated: at(12, 0, 5)}}}
	if stuck {
		b.Versions = b.Versions[:1]
	}
	return func(int64) ([]etcdadmin.MemberTrail, []string, error) {
		return []etcdadmin.MemberTrail{
			{Pod: "pod-a", Versions: []etcdsync.Member{{Pod: "pod-a", Revision: 40, Updated: at(11, 0, 0)}, {Pod: "pod-a", Revision: 42, Updated: at(12, 0, 20)}}},
			b,
		}, nil, nil
	}
}

// TestRevocationAnswerNeedsEverySidecar: a denial after a revocation
// shows that one sidecar enforced it, not that every one did. With a live
// sidecar that never applied it (the revocation file flags it NOT
// ACKNOWLEDGED: it still serves the key), or without the member records
// to show it (a pack made without etcd), "Can tokens be rotated and
// revoked quickly?" was Yes all the same; it is No now, saying why, and a
// Yes says how long the slowest sidecar took.
func TestRevocationAnswerNeedsEverySidecar(t *testing.T) {
	data := t.TempDir()
	revocationStore(t, data, keyDenial("key_revoked", "r-1"))
	tests := []struct {
		name    string
		members func(int64) ([]etcdadmin.MemberTrail, []string, error)
		answer  string
		fact    string
	}{
		{"every sidecar applied", sidecars(false), "Yes", "2 with a denial after them; applied by every live sidecar, the slowest 20s after the change"},
		{"one sidecar stuck", sidecars(true), "No", "NOT ACKNOWLEDGED: 2 of 4 (change, live sidecar) pairs"},
		{"no etcd", nil, "No", "propagation to the sidecars NOT CHECKED (no member records: the pack was built without etcd)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, _ := packChecklistWith(t, data, "2026-Q2", tt.members)
			if got := answerOf(t, list, revokedQuestion); got != tt.answer || !strings.Contains(list, tt.fact) {
				t.Errorf("answered %s, want %s with %q:\n%s", got, tt.answer, tt.fact, list)
			}
		})
	}
}
