package evidence

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// trailQuestions are the checklist's questions answered from the trail's
// records, events, alerts and sign-offs (answer.trail); the others are
// answered from the policy.
var trailQuestions = []string{
	"Are abuse alerts linked to tickets?",
	"Is token creation approved and logged?",
	"Do changes that weaken the two-person rule take a second person?",
	"Can tokens be rotated and revoked quickly?",
	"Is evidence mapped to controls, owned, reviewed and approved?",
}

// checklistAnswers returns the answer cell of each question of the pack's
// checklist.
func checklistAnswers(t *testing.T, res *Result, p Period) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(res.Dir, FileName("APIGovernance", "ISO27017Checklist", p.Name, "md")))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if cells := strings.Split(line, " | "); len(cells) >= 4 && strings.HasPrefix(line, "| ") {
			got[strings.TrimPrefix(cells[0], "| ")] = cells[1]
		}
	}
	return got
}

// TestIncompletePackAnswersNoBareYes: a pack the trail cannot cover whole
// (the store began after the period did, batches a sidecar numbered
// missing from it, an entry edited so the integrity proof FAILED and the
// entry is left out) put INCOMPLETE above the
// checklist and still answered "Yes" to the questions whose evidence is
// exactly that trail: an auditor reading the row read a Yes. Those rows
// now say "Not shown" and why; the policy's rows and a complete pack's
// Yes stay as they were.
func TestIncompletePackAnswersNoBareYes(t *testing.T) {
	key := newKey(t)
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	q2, _ := ParsePeriod("2026-Q2")
	// The activity store began on 1 April (sinceQ2): a range from 1 March
	// holds a month the store never saw.
	fromMarch, err := ParseRange("2026-03-01", "2026-06-30")
	if err != nil {
		t.Fatal(err)
	}
	intact := t.TempDir()
	activity(t, intact, key)
	edited := t.TempDir()
	activity(t, edited, key)
	seg := filepath.Join(edited, "seg-00000002.log") // the batches' segment (activity)
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(b), `"r-0509"`, `"r-0508"`, 1)
	if changed == string(b) {
		t.Fatalf("no request r-0509 in %s", seg)
	}
	if err := os.WriteFile(seg, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	// A sidecar's batches 1 and 4 reached the store, 2 and 3 never did.
	lost := t.TempDir()
	activity(t, lost, key)
	st, err := collector.OpenStore(lost, collector.StoreConfig{SigningKey: key, Retention: 400 * 24 * time.Hour, Now: sinceQ2})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"sidecar-a-1", "sidecar-a-4"} {
		rec := collector.StoredRecord{Time: time.Date(2026, 5, 20, 9, 0, 0, 0, time.UTC), Tenant: "acme", Client: "acme-hris", KeyID: "acmehris2",
			Method: "GET", Route: "/v1/users", Path: "/v1/users", Status: 200, Decision: "allowed", RequestID: "r-" + id}
		if err := st.AppendBatch(&collector.Batch{ID: id, Sender: "token:sidecar-a", Records: []collector.StoredRecord{rec}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	pack := func(data string, p Period, a Anchor) map[string]string {
		res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Retention: "400d", Anchor: a})
		if err != nil {
			t.Fatal(err)
		}
		return checklistAnswers(t, res, p)
	}
	complete := pack(intact, q2, headAnchor(t, intact, key))
	// The activity holds a ticketed alert (and a key creation with a
	// ticket, which is no second person's approval: No).
	if complete["Are abuse alerts linked to tickets?"] != "Yes" {
		t.Fatalf("the complete pack of %s does not answer Yes from its trail: %q", q2.Name, complete)
	}
	for _, tt := range []struct {
		name, data string
		p          Period
		want       string
	}{
		{"store began in the period", intact, fromMarch, "Not shown (incomplete: see APILogging-RetentionSettings-" + fromMarch.Name + ".md)"},
		{"batches missing", lost, q2, "Not shown (incomplete: see APILogging-RetentionSettings-2026-Q2.md)"},
		{"an entry fails its checks", edited, q2, "Not shown (the store failed its integrity proof: see APILogging-RetentionSettings-2026-Q2.md)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := pack(tt.data, tt.p, Anchor{})
			for _, q := range trailQuestions {
				switch a := got[q]; {
				case a == "":
					t.Errorf("checklist has no %q", q)
				case a == "Yes":
					t.Errorf("%q answered a bare %q from a trail known not to hold the period", q, a)
				case complete[q] == "Yes" && !strings.HasPrefix(a, tt.want):
					t.Errorf("%q answered %q, want %q...", q, a, tt.want)
				}
			}
			for q, a := range complete {
				if !slices.Contains(trailQuestions, q) && got[q] != a {
					t.Errorf("%q, answered from the policy, is %q; the complete pack's %q", q, got[q], a)
				}
			}
		})
	}
}

// headAnchor returns the head of the store in dir as the anchor a pack
// checks it against (--expect-head): the store is then not a copy rolled
// back from before it.
func headAnchor(t *testing.T, dir string, key ed25519.PrivateKey) Anchor {
	t.Helper()
	rep, err := collector.VerifyWith(dir, key.Public().(ed25519.PublicKey), collector.VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("setup: the store does not verify: %v %v", err, rep)
	}
	return Anchor{ExpectHead: rep.HeadHash}
}

// TestPartialOrUnverifiedPackAnswersNoBareYes: a pack made before its
// period ended said "Partial period" above the checklist, and one made
// without the collector's key said NOT VERIFIED in its integrity file
// only, and both answered the rows a bare "Yes": a row read alone
// claimed the whole quarter, or a trail nobody checked. Now every Yes of
// a partial pack is "Yes so far" with the time it covers, the trail's
// Yes of an unverified one is "Not shown" and why, and of one checked
// against no published head "Yes (ROLLBACK NOT CHECKED, ...)".
func TestPartialOrUnverifiedPackAnswersNoBareYes(t *testing.T) {
	key := newKey(t)
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	q2, _ := ParsePeriod("2026-Q2")
	data := t.TempDir()
	activity(t, data, key)
	anchor := headAnchor(t, data, key)
	pack := func(cfg Config) map[string]string {
		cfg.Period, cfg.DataDir, cfg.History, cfg.Out, cfg.Retention = q2, data, hist, t.TempDir(), "400d"
		res, err := Pack(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return checklistAnswers(t, res, q2)
	}
	complete := pack(Config{SigningKey: key, Anchor: anchor})
	yes := 0
	for _, a := range complete {
		if a == "Yes" {
			yes++
		}
	}
	if yes == 0 || complete[trailQuestions[0]] != "Yes" {
		t.Fatalf("the complete pack answers %q; want Yes among them, and for %q", complete, trailQuestions[0])
	}

	made := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	partial := pack(Config{SigningKey: key, Anchor: anchor, Now: func() time.Time { return made }})
	for q, a := range partial {
		if complete[q] == "Yes" && a != "Yes so far (period not ended: to 2026-06-01T00:00:00Z)" {
			t.Errorf("partial pack: %q answered %q; want \"Yes so far (period not ended: to 2026-06-01T00:00:00Z)\"", q, a)
		}
	}

	// Verified, but against no head kept outside the store: a copy
	// restored from before its newest entries verifies as intact.
	rolled := pack(Config{SigningKey: key})
	for q, a := range rolled {
		want := "Yes (ROLLBACK NOT CHECKED, no published head: see APILogging-RetentionSettings-2026-Q2.md)"
		if !slices.Contains(trailQuestions, q) {
			want = "Yes"
		}
		if complete[q] == "Yes" && a != want {
			t.Errorf("pack without a published head: %q answered %q; want %q", q, a, want)
		}
	}

	unverified := pack(Config{})
	want := "Not shown (the store was NOT VERIFIED, no collector key was given: see APILogging-RetentionSettings-2026-Q2.md)"
	for _, q := range trailQuestions {
		if a := unverified[q]; complete[q] == "Yes" && !strings.HasPrefix(a, want) {
			t.Errorf("unverified pack: %q answered %q; want %q...", q, a, want)
		}
	}
	for q, a := range complete {
		if !slices.Contains(trailQuestions, q) && unverified[q] != a {
			t.Errorf("unverified pack: %q, answered from the policy, is %q; the complete pack's %q", q, unverified[q], a)
		}
	}
}
