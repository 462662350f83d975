package evidence

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// copyStoreDir replaces dst with a copy of the store files in src: a
// backup of the data directory, and its restore.
func copyStoreDir(t *testing.T, src, dst string) {
	t.Helper()
	os.RemoveAll(dst)
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPackIntegrityChecksPublishedHead: the collector publishes its head
// outside the data directory (etcd's <prefix>/audit/head, --publish-head),
// and the README says a rolled-back store is found against it. A person
// with the data directory restores an older copy from before a key
// revocation and the denial that followed it (no restart needed). The
// pack's integrity proof checks the store against the published head as
// `audit verify --published-head` does and FAILS, naming the head it
// checked; a pack given no head says plainly that rollback was not
// checked, never "Result: OK". (Found by an outside review: the proof said
// OK, the revocation was simply absent, and evidence verify passed.)
func TestPackIntegrityChecksPublishedHead(t *testing.T) {
	data, key := t.TempDir(), newKey(t)
	pub := key.Public().(ed25519.PublicKey)
	anchor := collector.FileAnchor(filepath.Join(t.TempDir(), "published-head.json"))
	at := func(d, h int) time.Time { return time.Date(2026, 5, d, h, 0, 0, 0, time.UTC) }
	rec := func(tm time.Time, status int64, decision string) collector.StoredRecord {
		return collector.StoredRecord{Time: tm, Tenant: "acme", Client: "acme-hris", KeyID: "acmehris1", Method: "GET",
			Route: "/v1/users", Path: "/v1/users", Status: status, Decision: decision, RequestID: "r-" + tm.Format("0215"), SourceIP: "192.0.2.7"}
	}
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Now: sinceQ2})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendBatch(&collector.Batch{ID: "b1", Sender: "token:s1", Records: []collector.StoredRecord{rec(at(3, 9), 200, "allowed")}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	backup := filepath.Join(t.TempDir(), "backup")
	copyStoreDir(t, data, backup)

	st, err = collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Now: sinceQ2})
	if err != nil {
		t.Fatal(err)
	}
	revoke := collector.Event{Time: at(10, 12), Key: "/p/events/1", Revision: 41, Actor: "alice", Action: "key.revoke",
		Target: "acmehris1", Reason: "leaked", Ticket: "SEC-9"}
	if err := st.AppendEvents([]collector.Event{revoke}); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendBatch(&collector.Batch{ID: "b2", Sender: "token:s1", Records: []collector.StoredRecord{rec(at(10, 13), 401, "unauthenticated")}}); err != nil {
		t.Fatal(err)
	}
	doc, err := st.SignHead(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := collector.PublishHead(t.Context(), doc, time.Minute, []collector.HeadPublisher{anchor}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	current := filepath.Join(t.TempDir(), "current")
	copyStoreDir(t, data, current)

	copyStoreDir(t, backup, data) // the rollback
	published, err := collector.OpenHead(doc, pub)
	if err != nil {
		t.Fatal(err)
	}
	rep, _ := collector.VerifyWith(data, pub, collector.VerifyOptions{Published: published})
	if rep.OK() {
		t.Fatal("setup: audit verify --published-head should fail")
	}
	// A fork: a store of the same length as the published head's, but
	// another chain (written again from the backup with other entries).
	forked := filepath.Join(t.TempDir(), "forked")
	copyStoreDir(t, backup, forked)
	st, err = collector.OpenStore(forked, collector.StoreConfig{SigningKey: key, Now: sinceQ2})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendEvents([]collector.Event{{Time: at(10, 12), Key: "/p/events/1", Revision: 41, Actor: "mallory",
		Action: "client.resume", Target: "acme-hris", Reason: "nothing happened", Ticket: "SEC-9"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendBatch(&collector.Batch{ID: "b2", Sender: "token:s1", Records: []collector.StoredRecord{rec(at(10, 13), 200, "allowed")}}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ParsePeriod("2026-Q2")
	proofName := FileName("APILogging", "RetentionSettings", p.Name, "md")
	pack := func(t *testing.T, dir string, a Anchor) (proof, lifecycle string, problems []string, res *Result) {
		t.Helper()
		res, err := Pack(Config{Period: p, DataDir: dir, History: hist, Out: t.TempDir(), SigningKey: key, Anchor: a})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(res.Dir, proofName))
		l, _ := os.ReadFile(filepath.Join(res.Dir, FileName("APIAuth", "TokenLifecycleLog", p.Name, "csv")))
		problems, err = VerifyZip(res.Zip, pub)
		if err != nil {
			t.Fatal(err)
		}
		return string(b), string(l), problems, res
	}
	fromFile := Anchor{Published: published, Checked: []string{"--published-head published-head.json (seq 3)"}}

	t.Run("rolled back, no head given", func(t *testing.T) {
		proof, lifecycle, problems, _ := pack(t, data, Anchor{})
		if strings.Contains(proof, "Result: OK") && len(problems) == 0 {
			t.Fatalf("audit verify against the published head fails (%v), but the signed pack's integrity proof says OK and evidence verify passes; the revocation is missing from it (lifecycle log mentions SEC-9: %v)",
				rep.Problems, strings.Contains(lifecycle, "SEC-9"))
		}
		for _, want := range []string{"Rollback: NOT CHECKED. No published head was given to the pack", "Result: INTACT, ROLLBACK NOT CHECKED (no published head)"} {
			if !strings.Contains(proof, want) {
				t.Errorf("integrity proof without a published head lacks %q:\n%s", want, proof)
			}
		}
	})

	t.Run("rolled back, published head", func(t *testing.T) {
		proof, lifecycle, problems, res := pack(t, data, fromFile)
		if strings.Contains(proof, "Result: OK") && len(problems) == 0 {
			t.Fatalf("audit verify against the published head fails (%v), but the signed pack's integrity proof says OK and evidence verify passes; the revocation is missing from it (lifecycle log mentions SEC-9: %v)",
				rep.Problems, strings.Contains(lifecycle, "SEC-9"))
		}
		for _, want := range []string{"Result: FAILED (1 problems)", "rolled back", "but the head published at",
			"- published head: seq 3, chain hash " + published.Hash, "read from --published-head published-head.json (seq 3)"} {
			if !strings.Contains(proof, want) {
				t.Errorf("integrity proof of a rolled-back store lacks %q:\n%s", want, proof)
			}
		}
		if strings.Contains(proof, "NOT CHECKED") {
			t.Errorf("integrity proof checked against a head says rollback was not checked:\n%s", proof)
		}
		if !strings.Contains(strings.Join(res.Warnings, "\n"), "integrity proof FAILED (1 problems, listed in "+proofName+")") {
			t.Errorf("warnings %q do not report the failed integrity proof", res.Warnings)
		}
	})

	t.Run("rolled back, expected head", func(t *testing.T) {
		proof, _, _, _ := pack(t, data, Anchor{ExpectHead: published.Hash})
		for _, want := range []string{"Result: FAILED (1 problems)", "no entry has the expected head hash " + published.Hash,
			"- head kept earlier (`--expect-head`): chain hash " + published.Hash} {
			if !strings.Contains(proof, want) {
				t.Errorf("integrity proof of a rolled-back store lacks %q:\n%s", want, proof)
			}
		}
	})

	t.Run("forked from the published head", func(t *testing.T) {
		proof, _, _, _ := pack(t, forked, fromFile)
		for _, want := range []string{"Result: FAILED (1 problems)", "is not the one the head published at", "the store was replaced"} {
			if !strings.Contains(proof, want) {
				t.Errorf("integrity proof of a forked store lacks %q:\n%s", want, proof)
			}
		}
	})

	t.Run("intact, published head", func(t *testing.T) {
		proof, lifecycle, problems, res := pack(t, current, fromFile)
		if !strings.Contains(proof, "Result: OK\n") || !strings.Contains(lifecycle, "SEC-9") || len(problems) > 0 || len(res.Warnings) > 0 {
			t.Errorf("the store the head names: proof not OK, revocation missing, pack problems %q or warnings %q:\n%s", problems, res.Warnings, proof)
		}
	})
}
