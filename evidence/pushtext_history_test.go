package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// TestScanPolicyTextReadsEarlierDocuments: a key's created_by or ticket
// holding a secret ("password hunter2") in a policy pushed during the
// period and replaced by a later push was not scanned: only the keys of
// the policy in force were, and the pack's scan said nothing of a secret
// etcd's push history holds as typed. A key record carried unchanged from
// one document to the next is scanned once, and a document pushed before
// the period (not in force in it) is not read.
func TestScanPolicyTextReadsEarlierDocuments(t *testing.T) {
	t.Parallel()
	clean := examplePolicyText(t)
	leaky := strings.Replace(clean, "created_by: demo\n    ticket: DEMO-1", "created_by: bob password earlierkeyword\n    ticket: DEMO-1", 1)
	before := strings.Replace(clean, "created_by: demo\n    ticket: DEMO-2", "created_by: carol password beforekeyword\n    ticket: DEMO-2", 1)
	if leaky == clean || before == clean {
		t.Fatal("the example policy no longer has the key records this test edits")
	}
	entry := func(rev int64, at time.Time, doc string) etcdadmin.HistoryEntry {
		sum := sha256.Sum256([]byte(doc))
		return etcdadmin.HistoryEntry{Revision: rev, Time: at, Actor: "alice", Digest: hex.EncodeToString(sum[:]), Document: doc}
	}
	p := Period{Name: "2026-06", From: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)}
	h := []etcdadmin.HistoryEntry{
		entry(5, p.From.AddDate(0, -2, 0), before),           // replaced before the period began
		entry(8, p.From.AddDate(0, -1, 0), clean),            // in force when the period began
		entry(10, p.From.AddDate(0, 0, 3), leaky),            // in force for a week
		entry(11, p.From.AddDate(0, 0, 10), leaky+"\n# x\n"), // the same key record again
		entry(12, p.From.AddDate(0, 0, 17), clean),           // the policy in force
	}
	at, doc, err := inForce(h, p)
	if err != nil {
		t.Fatal(err)
	}
	s := scanPolicyText(h, at, doc, p)
	if s.hits != 1 {
		t.Fatalf("scan hits = %d, want 1 (the earlier document's key):\n%s", s.hits, s.lines.String())
	}
	for _, want := range []string{"| 10 |", "of a policy in force earlier in the period", proseSecretName} {
		if !strings.Contains(s.lines.String(), want) {
			t.Errorf("scan lines lack %q:\n%s", want, s.lines.String())
		}
	}
	if strings.Contains(s.lines.String(), "earlierkeyword") {
		t.Errorf("scan lines hold the secret:\n%s", s.lines.String())
	}
}

// TestScanPolicyTextReadsDocumentInForceAtStart: the document in force
// when the period began, pushed before it and replaced during it, is in
// force in the period, so its keys' created_by and ticket are scanned as
// an earlier document's are; the one it replaced before the period is not.
func TestScanPolicyTextReadsDocumentInForceAtStart(t *testing.T) {
	t.Parallel()
	clean := examplePolicyText(t)
	atStart := strings.Replace(clean, "created_by: demo\n    ticket: DEMO-1", "created_by: bob password startkeyword\n    ticket: DEMO-1", 1)
	replaced := strings.Replace(clean, "created_by: demo\n    ticket: DEMO-2", "created_by: carol password beforekeyword\n    ticket: DEMO-2", 1)
	if atStart == clean || replaced == clean {
		t.Fatal("the example policy no longer has the key records this test edits")
	}
	entry := func(rev int64, at time.Time, doc string) etcdadmin.HistoryEntry {
		sum := sha256.Sum256([]byte(doc))
		return etcdadmin.HistoryEntry{Revision: rev, Time: at, Actor: "alice", Digest: hex.EncodeToString(sum[:]), Document: doc}
	}
	p := Period{Name: "2026-06", From: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)}
	h := []etcdadmin.HistoryEntry{
		entry(5, p.From.AddDate(0, -2, 0), replaced), // replaced before the period began
		entry(8, p.From.AddDate(0, -1, 0), atStart),  // in force when the period began
		entry(12, p.From.AddDate(0, 0, 17), clean),   // the policy in force
	}
	at, doc, err := inForce(h, p)
	if err != nil {
		t.Fatal(err)
	}
	s := scanPolicyText(h, at, doc, p)
	if s.hits != 1 {
		t.Fatalf("scan hits = %d, want 1 (the key of the document in force at the start):\n%s", s.hits, s.lines.String())
	}
	for _, want := range []string{"| 8 |", "of a policy in force earlier in the period", proseSecretName} {
		if !strings.Contains(s.lines.String(), want) {
			t.Errorf("scan lines lack %q:\n%s", want, s.lines.String())
		}
	}
	if strings.Contains(s.lines.String(), "startkeyword") {
		t.Errorf("scan lines hold the secret:\n%s", s.lines.String())
	}
}
