package evidence

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestRevocationPodsBoundPerSender: the revocation file keeps the first
// denial after a revocation for at most maxPods pods, first seen first,
// and one sender could take every place. A stolen credential sending
// maxPods+1 key_revoked batches, each naming a new pod, pushed the real
// pod's first denial past them: its sidecar_first_denial cell showed the
// earliest of the pods past the first 1000, the thief's. One sender's
// pods now take at most maxPodsPerSender places, and the file names the
// sender whose pods were cut.
func TestRevocationPodsBoundPerSender(t *testing.T) {
	t.Parallel()
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Retention: 400 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	revokedAt := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	if err := st.AppendEvents([]collector.Event{{Time: revokedAt, Key: "/p/events/1", Revision: 41, Actor: "alice",
		Action: etcdadmin.ActionKeyRevoke, Target: "acmehris1", Reason: "leaked"}}); err != nil {
		t.Fatal(err)
	}
	denial := func(at time.Time, id string) []collector.StoredRecord {
		return []collector.StoredRecord{{Time: at, KeyID: "acmehris1", Method: "GET", Route: "/v1/users", Path: "/v1/users",
			Status: 401, Decision: "key_revoked", RequestID: id}}
	}
	for i := range maxPods + 1 {
		n := strconv.Itoa(i)
		if err := st.AppendBatch(&collector.Batch{ID: "x-" + n, Sender: "token:thief", Pod: "pod-x-" + n,
			Records: denial(revokedAt.Add(time.Second), "r-x-"+n)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.AppendBatch(&collector.Batch{ID: "real-1", Sender: "token:sidecar-1", Pod: "pod-real",
		Records: denial(revokedAt.Add(30*time.Second), "r-real")}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SignHead(time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePeriod("2026-Q2")
	if err != nil {
		t.Fatal(err)
	}
	members := func(int64) ([]etcdadmin.MemberTrail, []string, error) {
		return []etcdadmin.MemberTrail{{Pod: "pod-real", Versions: []etcdsync.Member{{Pod: "pod-real", Revision: 41, Updated: revokedAt.Add(10 * time.Second)}}}}, nil, nil
	}
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: out, SigningKey: key, Retention: "400d", Members: members})
	if err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, filepath.Join(res.Dir, "APIAuth-RevocationRecords-2026-Q2.csv"))
	by, own := indexOf(rows[0], "first_denial_by_sidecar"), indexOf(rows[0], "sidecar_first_denial")
	if len(rows) != 3 || by < 0 || own < 0 {
		t.Fatalf("revocations: %d rows; want the header, the change's row and pod-real's", len(rows))
	}
	if got, want := rows[2][own], "2026-05-10T12:00:30Z (token:sidecar-1)"; got != want {
		t.Errorf("pod-real's first denial = %q; want its own, %q", got, want)
	}
	if got, want := rows[1][by], morePodsOfSender+" (token:thief)="; !strings.Contains(got, want) {
		t.Errorf("first denial by sidecar = %.300q...; want it to name the sender cut, %q", got, want)
	}
}
