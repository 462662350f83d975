package evidence

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestPackLeavesOutEntriesThatFailTheirChecks: the pack is evidence of
// what the collector's key signed. An entry edited in the store (here a
// key.create's actor and ticket rewritten, which breaks its hash and its
// segment's signed digest) made the integrity proof say FAILED, but every
// other file used its content as if it were the collector's: the
// lifecycle log named the forged actor and ticket, and the checklist
// counted the change ticketed. An entry that fails its own checks (hash,
// link, seq, the collector's signature) is now left out of every file,
// and the integrity proof and a warning say how many were.
func TestPackLeavesOutEntriesThatFailTheirChecks(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	create := func(d int, target, actor, ticket string) collector.Event {
		return collector.Event{Time: time.Date(2026, 5, d, 9, 0, 0, 0, time.UTC), Key: "/p/events/" + target, Revision: int64(d),
			Actor: actor, Action: "key.create", Target: target, Ticket: ticket, Reason: "new integration"}
	}
	if err := st.AppendEvents([]collector.Event{create(3, "acmehris7", "carol", "CHG-7")}); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendEvents([]collector.Event{create(4, "acmehris8", "dave", "")}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SignHead(time.Now()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	seg := filepath.Join(data, "seg-00000001.log")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(b), `"actor":"dave","action":"key.create","target":"acmehris8"`, `"actor":"alice","action":"key.create","target":"acmehris8","ticket":"CHG-8"`, 1)
	if edited == string(b) {
		t.Fatalf("no key.create of acmehris8 by dave in %s:\n%s", seg, b)
	}
	if err := os.WriteFile(seg, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	res := packMay(t, data, out, key)
	log, err := os.ReadFile(filepath.Join(res.Dir, "APIAuth-TokenLifecycleLog-2026-05.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(log), "acmehris8") || !strings.Contains(string(log), "acmehris7") {
		t.Errorf("lifecycle log; want carol's key.create of acmehris7 and nothing of the edited entry:\n%s", log)
	}
	md, err := os.ReadFile(filepath.Join(res.Dir, "APIGovernance-ISO27017Checklist-2026-05.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "1 key creations in period:") {
		t.Errorf("checklist counts the edited entry:\n%s", md)
	}
	ret, err := os.ReadFile(filepath.Join(res.Dir, "APILogging-RetentionSettings-2026-05.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ret), "1 entries of the store failed their own checks") {
		t.Errorf("the integrity proof does not say an entry was left out:\n%s", ret)
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "left out") {
		t.Errorf("warnings %q; want one saying entries were left out", res.Warnings)
	}
}
