package evidence

import (
	"crypto/ed25519"
	"html"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestPackTellsOfLiveSidecarsThatStoppedSending: the pack found batches
// a sidecar numbered but the store never got only as gaps between stored
// batches, so a sidecar that stopped sending (its spool lost, its path
// to the collector cut, the pod silenced) or never sent left no gap and
// the period was reported complete. Here real emitters send to a real
// collector writing real files, the collector's clock moving through the
// day: pod-a sends at 01:00 and then nothing, pod-b sends every hour,
// pod-c sends nothing; the member records (as etcdadmin.MemberTrails
// reads them, TestMemberTrailsAcknowledgeRevocation) say all three were
// live all day, pod-d only from 23:40. The pack says INCOMPLETE for
// pod-a's silence and pod-c's, in the integrity file, the checklist and
// index.html, with warnings, and not for pod-b nor pod-d; without etcd
// it says silence was not checked.
func TestPackTellsOfLiveSidecarsThatStoppedSending(t *testing.T) {
	data, key := t.TempDir(), newKey(t)
	day := time.Date(2026, 5, 12, 0, 0, 0, 0, time.UTC)
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	var mu sync.Mutex
	clock := at(1, 0)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	const token = "collector-token-for-the-silence-test"
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	col, err := collector.New(st, collector.Config{Token: token, MaxBodyBytes: 1 << 20, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(col)
	const batch = 10
	emitter := func(pod string) *audit.Emitter {
		e, err := audit.NewEmitter(audit.EmitterConfig{URL: srv.URL, Token: token, SpoolDir: t.TempDir(),
			BatchSize: batch, FlushInterval: time.Hour, InstanceID: "sidecar-" + pod, Pod: pod})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	send := func(e *audit.Emitter) {
		for range batch {
			r := &audit.Record{Time: now().UnixNano(), Status: 200, Decision: audit.Allowed,
				Tenant: "acme", Client: "acme-hris", Route: "/v1/users"}
			if !e.Emit(r) {
				t.Fatal("the emitter refused a record")
			}
		}
		want := e.Stats().Delivered + batch
		waitUntil(t, "the batch delivered", func() bool { return e.Stats().Delivered == want })
	}
	a, b := emitter("pod-a"), emitter("pod-b")
	send(a)
	if err := a.Close(); err != nil { // pod-a stops sending
		t.Fatal(err)
	}
	for h := 1; h < 24; h++ {
		mu.Lock()
		clock = at(h, 30)
		mu.Unlock()
		send(b)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseRange("2026-05-12", "2026-05-12")
	if err != nil {
		t.Fatal(err)
	}
	member := func(pod string, started time.Time) etcdadmin.MemberTrail {
		return etcdadmin.MemberTrail{Pod: pod, Versions: []etcdsync.Member{{Pod: pod, Revision: 7, Started: started, Updated: started}}}
	}
	members := func(int64) ([]etcdadmin.MemberTrail, []string, error) {
		return []etcdadmin.MemberTrail{member("pod-a", day.Add(-time.Hour)), member("pod-b", at(0, 45)),
			member("pod-c", at(0, 30)), member("pod-d", at(23, 40))}, nil, nil
	}
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Members: members, Silence: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	quiet := `INCOMPLETE: 1 sidecar(s) live during period 2026-05-12_2026-05-12 (by their member records in etcd) stored no batch for longer than 1h0m0s: "pod-a" (token:default): no batch stored 2026-05-12T01:00:00Z to 2026-05-13T00:00:00Z.`
	never := `INCOMPLETE: 1 sidecar(s) live during period 2026-05-12_2026-05-12 for longer than 1h0m0s (by their member records in etcd) have no batch holding a record of the period in the store: "pod-c" (live from 2026-05-12T00:30:00Z).`
	for _, f := range []string{FileName("APILogging", "RetentionSettings", p.Name, "md"), FileName("APIGovernance", "ISO27017Checklist", p.Name, "md"), IndexFile} {
		raw, err := os.ReadFile(filepath.Join(res.Dir, f))
		if err != nil {
			t.Fatal(err)
		}
		text := html.UnescapeString(string(raw))
		for _, want := range []string{quiet, never} {
			if !strings.Contains(text, want) {
				t.Errorf("%s does not say %q:\n%s", f, want, text)
			}
		}
		// (pod-a and pod-b share the sender token: the SHARED SENDER
		// note names both, as no silence.)
		for _, line := range strings.Split(text, "\n") {
			if strings.Contains(line, "INCOMPLETE:") && (strings.Contains(line, `"pod-b"`) || strings.Contains(line, `"pod-d"`)) {
				t.Errorf("%s names pod-b or pod-d silent, which sent every hour or was live too briefly:\n%s", f, text)
			}
		}
	}
	for _, want := range []string{quiet, never} {
		if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, want) }) {
			t.Errorf("warnings %q: none says %q", res.Warnings, want)
		}
	}

	// pod-a and pod-c went away before the pack (their leases revoked or
	// lapsed): only etcd's history of the member records names them.
	// Before, the pack read the live records alone and said nothing of
	// either. pod-a's record was deleted at revision 30, after the
	// collector's head of 12:00 (revision 29) and before its head of
	// 13:00: pod-a counts as up until 13:00, silent from 01:00. pod-c's,
	// deleted at 40, counts as up from 00:30 to 14:00 and never sent.
	// The times are the collector's (its heads in etcd), not the
	// sidecars' (TestGoneSidecarSpanIsTheCollectorsClock).
	gone := func(int64) ([]etcdadmin.MemberTrail, []string, error) {
		return []etcdadmin.MemberTrail{member("pod-b", at(0, 45)), member("pod-d", at(23, 40))}, nil, nil
	}
	history := func() (etcdadmin.MemberHistory, []string, error) {
		return etcdadmin.MemberHistory{From: 1, To: 50, Lives: []etcdadmin.MemberLife{
			{Pod: "pod-a", Created: 3, Deleted: 30, Started: day.Add(-time.Hour), Updated: day.Add(-time.Hour)},
			{Pod: "pod-c", Created: 5, Deleted: 40, Started: at(0, 30), Updated: at(0, 30)},
			{Pod: "pod-b", Created: 6, Started: at(0, 45), Updated: at(13, 0)},
		}, Heads: signedHeads(t, key, 29, at(12, 0), 31, at(13, 0), 41, at(14, 0))}, nil, nil
	}
	res, err = Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Members: gone, MemberHistory: history, Silence: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	quiet = `"pod-a" (token:default): no batch stored 2026-05-12T01:00:00Z to 2026-05-12T13:00:00Z (gone before the pack: its member record deleted at etcd revision 30, after 2026-05-12T12:00:00Z and by 2026-05-12T13:00:00Z (the collector's clock); counted up to 2026-05-12T13:00:00Z)`
	never = `have no batch holding a record of the period in the store: "pod-c" (live 2026-05-12T00:30:00Z to 2026-05-12T14:00:00Z) (gone before the pack: its member record deleted at etcd revision 40, after 2026-05-12T13:00:00Z and by 2026-05-12T14:00:00Z (the collector's clock); counted up to 2026-05-12T14:00:00Z)`
	for _, want := range []string{quiet, never} {
		if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, want) }) {
			t.Errorf("sidecars gone before the pack: warnings %q: none says %q", res.Warnings, want)
		}
	}
	ret, _ := os.ReadFile(filepath.Join(res.Dir, FileName("APILogging", "RetentionSettings", p.Name, "md")))
	if want := "names 2 record(s) of sidecars gone before the pack was made"; !strings.Contains(string(ret), want) {
		t.Errorf("the integrity file does not say %q:\n%s", want, ret)
	}
	// etcd compacted the history into the period: a sidecar gone before
	// then cannot be seen, and the pack says so.
	compacted := func() (etcdadmin.MemberHistory, []string, error) {
		return etcdadmin.MemberHistory{From: 29, To: 50, Heads: signedHeads(t, key, 29, at(12, 0))}, nil, nil
	}
	res, err = Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Members: gone, MemberHistory: compacted, Silence: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if want := "INCOMPLETE: etcd compacted the history of the member records before revision 29"; !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, want) }) {
		t.Errorf("history compacted into the period: warnings %q: none says %q", res.Warnings, want)
	}

	// pod-e's record, written without a start time (an older sidecar, or
	// by hand), was put after the collector's head of 00:25 and deleted
	// at revision 40, before its head of 14:00: it counts as up from
	// 00:25 to 14:00 and never sent. It was left out, its silence
	// named nowhere.
	noStart := func() (etcdadmin.MemberHistory, []string, error) {
		return etcdadmin.MemberHistory{From: 1, To: 50, Lives: []etcdadmin.MemberLife{{Pod: "pod-e", Created: 5, Deleted: 40, Updated: at(0, 30)}},
			Heads: signedHeads(t, key, 4, at(0, 25), 29, at(12, 0), 41, at(14, 0))}, nil, nil
	}
	res, err = Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Members: gone, MemberHistory: noStart, Silence: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if want := `"pod-e" (live 2026-05-12T00:25:00Z to 2026-05-12T14:00:00Z)`; !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, want) }) {
		t.Errorf("a sidecar gone before the pack whose record has no start: warnings %q: none says %q", res.Warnings, want)
	}

	res, err = Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	ret, _ = os.ReadFile(filepath.Join(res.Dir, FileName("APILogging", "RetentionSettings", p.Name, "md")))
	if want := "Silence CANNOT BE CHECKED: the pack was built without etcd"; !strings.Contains(string(ret), want) {
		t.Errorf("without etcd, the integrity file does not say %q:\n%s", want, ret)
	}
}

// signedHeads returns heads signed with key, put at the revisions given,
// each followed by the time it names: revision, time, revision, time...
func signedHeads(t *testing.T, key ed25519.PrivateKey, revTimes ...any) []etcdadmin.HeadPut {
	t.Helper()
	st, err := collector.OpenStore(t.TempDir(), collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out []etcdadmin.HeadPut
	for i := 0; i+1 < len(revTimes); i += 2 {
		doc, err := st.SignHead(revTimes[i+1].(time.Time))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, etcdadmin.HeadPut{Revision: int64(revTimes[i].(int)), Doc: doc})
	}
	return out
}
