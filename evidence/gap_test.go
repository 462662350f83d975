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

// When etcd compacted its history before the collector's follower read
// it, the follower stores a flagged events.gap event: approval uses of
// counters deleted meanwhile may be missing from the trail. A pack whose
// period that gap overlaps must say so. Before, it ignored the event and
// its approval samples read as every use of the period.
func TestPackSaysApprovalUsesMayBeMissing(t *testing.T) {
	data, key := t.TempDir(), newKey(t)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	ev := func(tm time.Time, rev int64, action, target string, details map[string]string) collector.Event {
		raw, _ := json.Marshal(details)
		return collector.Event{Time: tm, Key: "/p/events/" + action + target, Revision: rev, Actor: "alice", Action: action, Target: target,
			Ticket: "CHG-1", Details: raw}
	}
	// The follower stored revision 40 on May 28, was down, and on June 3
	// found the history from 41 compacted.
	gap := ev(time.Date(2026, 6, 3, 8, 0, 0, 0, time.UTC), 90, etcdadmin.ActionEventsGap, "/p/approval-uses/",
		map[string]string{"from": "41", "to": "90", "compacted": "80"})
	gap.Unverified = "etcd history from revision 41 is compacted"
	if err := st.AppendEvents([]collector.Event{
		ev(time.Date(2026, 5, 28, 9, 0, 0, 0, time.UTC), 40, etcdadmin.ActionKeyCreate, "acmehris7", map[string]string{"client": "acme-hris"}),
		gap,
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		period string
		gap    bool
	}{{"2026-05", true}, {"2026-06", true}, {"2026-04", false}, {"2026-07", false}} {
		p, _ := ParsePeriod(tt.period)
		res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), Now: func() time.Time { return time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC) }})
		if err != nil {
			t.Fatal(err)
		}
		page, _ := os.ReadFile(filepath.Join(res.Dir, IndexFile))
		warned := strings.Contains(strings.Join(res.Warnings, "\n"), "may be missing")
		said := strings.Contains(string(page), "may be missing")
		if warned != tt.gap || said != tt.gap {
			t.Errorf("pack of %s (history compacted between May 28 and June 3): warned %t, index says %t; want %t\nwarnings %q",
				tt.period, warned, said, tt.gap, res.Warnings)
		}
	}
}

// TestPackSaysEtcdWentBack: an events.rewind the follower stored (etcd
// restored from a backup under it) is said in the pack of its period, as
// a compacted history is: changes written to etcd just before the
// restore, which the collector had not read, may be missing. Before, the
// pack said nothing of it.
func TestPackSaysEtcdWentBack(t *testing.T) {
	data, key := t.TempDir(), newKey(t)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(map[string]string{"was": "120", "now": "75"})
	if err := st.AppendEvents([]collector.Event{{Time: time.Date(2026, 6, 3, 8, 0, 0, 0, time.UTC), Key: "/p/events/#rewind-120-75-1",
		Action: etcdadmin.ActionEventsRewind, Target: "/p/events/", Details: raw, Unverified: "etcd revision went backwards from 120 to 75"}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		period string
		said   bool
	}{{"2026-06", true}, {"2026-05", false}} {
		p, _ := ParsePeriod(tt.period)
		res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), Now: func() time.Time { return time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC) }})
		if err != nil {
			t.Fatal(err)
		}
		page, _ := os.ReadFile(filepath.Join(res.Dir, IndexFile))
		warned := strings.Contains(strings.Join(res.Warnings, "\n"), "etcd went back in revision, from 120 to 75")
		said := strings.Contains(string(page), "etcd went back in revision, from 120 to 75")
		if warned != tt.said || said != tt.said {
			t.Errorf("pack of %s (etcd went back on June 3): warned %t, index says %t; want %t\nwarnings %q", tt.period, warned, said, tt.said, res.Warnings)
		}
	}
}
