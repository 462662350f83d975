package evidence

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// TestChecklistFactsEscapeWhatTheTrailNames: the checklist's facts are
// table cells, and two of them wrote what a writer of etcd names raw:
// the actor of a weakening push without an approval (with %q, which
// leaves a | as it is) and the kind of a review signed off. An actor
// "mallory | Yes | x" added cells to the row, so a reader of the table
// (or a tool splitting it) read columns the pack never wrote. Both are
// now escaped as the other cells are (mdCell).
func TestChecklistFactsEscapeWhatTheTrailNames(t *testing.T) {
	data, key := t.TempDir(), newKey(t)
	raw, err := os.ReadFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	base := strings.Replace(string(raw), "privileged_key_approval: false", "privileged_key_approval: true", 1)
	keyOff := strings.Replace(base, "privileged_key_approval: true", "privileged_key_approval: false", 1)
	day := func(d int) time.Time { return time.Date(2026, 6, d, 9, 0, 0, 0, time.UTC) }
	const actor = "mallory | Yes | forged"
	hist := []etcdadmin.HistoryEntry{
		{Revision: 10, Time: day(1), Actor: "alice", Digest: "da", Document: base},
		{Revision: 30, Time: day(3), Actor: actor, Digest: "dm", Document: keyOff},
	}
	ev := func(rev int64, d int, action, target string, details map[string]string) collector.Event {
		b, _ := json.Marshal(details)
		return collector.Event{Time: day(d), Key: "/p/events/" + action + target, Revision: rev, Actor: "alice", Action: action, Target: target, Details: b}
	}
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendEvents([]collector.Event{
		ev(10, 1, "policy.push", "/p/policy", map[string]string{"digest": "da"}),
		ev(30, 3, "policy.push", "/p/policy", map[string]string{"digest": "dm"}),
		ev(40, 4, ActionReviewSign, "logs-2026-06", map[string]string{"kind": "logs | Yes", "decision": "approved", "period": "2026-06"}),
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	p, _ := ParsePeriod("2026-06")
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Retention: "400d",
		Now: func() time.Time { return time.Date(2026, 7, 2, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	checklist, err := os.ReadFile(filepath.Join(res.Dir, FileName("APIGovernance", "ISO27017Checklist", p.Name, "md")))
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, line := range strings.Split(string(checklist), "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| Question") {
			continue
		}
		rows++
		// Four cells: five | that no backslash escapes.
		if n := strings.Count(line, "|") - strings.Count(line, `\|`); n != 5 {
			t.Errorf("checklist row has %d unescaped |, want 5 (four cells):\n%s", n, line)
		}
	}
	if rows == 0 {
		t.Fatalf("no checklist rows read:\n%s", checklist)
	}
	if !strings.Contains(string(checklist), `by "mallory \| Yes \| forged"`) {
		t.Errorf("checklist does not name the actor escaped:\n%s", checklist)
	}
}
