package evidence

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// reviewStore writes a store holding only review sign-offs, each signed
// at its time for the period it names (as review sign writes them).
func reviewStore(t *testing.T, dir string, signs ...collector.Event) {
	t.Helper()
	// A collector running since 2026 began: the store covers the periods
	// of the tests that use it (TestPackSaysWhenTheStoreBegan).
	since2026 := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	st, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: checklistKey, Now: since2026})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendEvents(signs); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// signOff is a review.sign event of kind and period, approved, at tm.
func signOff(tm time.Time, rev int64, kind, period string) collector.Event {
	d, _ := json.Marshal(map[string]string{"kind": kind, "period": period, "decision": "approved"})
	return collector.Event{Time: tm, Key: "/p/events/r" + period, Revision: rev, Actor: "rita", Action: ActionReviewSign,
		Target: kind + "-" + period, Ticket: "AUD-1", Reason: "reviewed", Details: d}
}

// packChecklist makes the pack of period over data and returns its
// checklist and review records.
func packChecklist(t *testing.T, data, period string) (checklist, reviews string) {
	t.Helper()
	return packChecklistWith(t, data, period, nil)
}

// everyOwner gives every area of the pack's files an owner: the
// governance question is then the reviews' alone
// (TestOwnedMeansEveryFileHasAnOwner).
var everyOwner = map[string]string{"Auth": "iam@example.com", "Rate Limit": "platform@example.com", "Logging": "secops@example.com",
	"Abuse": "secops@example.com", "Privileged Endpoint": "iam@example.com"}

// packChecklistWith is packChecklist with the live sidecars' member
// records (Config.Members; nil: a pack without etcd).
// checklistKey signs the stores packChecklist packs, which verifies them
// with it: a pack of a store nobody verified answers "Not shown" from its
// trail (TestPartialOrUnverifiedPackAnswersNoBareYes).
var checklistKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

func packChecklistWith(t *testing.T, data, period string, members func(int64) ([]etcdadmin.MemberTrail, []string, error)) (checklist, reviews string) {
	t.Helper()
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePeriod(period)
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) }
	// These stores hold a few batches of a quarter: the sidecars the
	// member records name are not judged silent (TestPackTellsOfLiveSidecarsThatStoppedSending).
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: checklistKey, Owners: everyOwner, Now: now, Members: members, Silence: 366 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c, err := os.ReadFile(filepath.Join(res.Dir, FileName("APIGovernance", "ISO27017Checklist", period, "md")))
	if err != nil {
		t.Fatal(err)
	}
	r, err := os.ReadFile(filepath.Join(res.Dir, FileName("APIGovernance", "ReviewRecords", period, "csv")))
	if err != nil {
		t.Fatal(err)
	}
	return string(c), string(r)
}

const reviewedQuestion = "| Is evidence mapped to controls, owned, reviewed and approved? |"

// answer returns the checklist's answer to question: "Yes" or "No".
func answerOf(t *testing.T, checklist, question string) string {
	t.Helper()
	for line := range strings.Lines(checklist) {
		if rest, ok := strings.CutPrefix(line, question); ok {
			yn, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
			return yn
		}
	}
	t.Fatalf("checklist lacks %q:\n%s", question, checklist)
	return ""
}

// A review sign-off answers for the period it names, not for the period
// it happened to be signed in: the review of 2026-Q1 is signed in April
// (in Q2) and the review of 2026-Q2 in July (in Q3), as reviews of a
// period are made after it ends. Before, the Q2 pack's checklist said its
// evidence was reviewed and approved on the strength of Q1's sign-off,
// and Q2's own sign-off counted for Q3 and never reached Q2's pack.
func TestReviewSignOffCountsForItsPeriod(t *testing.T) {
	q1Signed := signOff(time.Date(2026, 4, 2, 10, 0, 0, 0, time.UTC), 10, ReviewAccess, "2026-Q1")
	q2Signed := signOff(time.Date(2026, 7, 3, 10, 0, 0, 0, time.UTC), 20, ReviewAccess, "2026-Q2")

	t.Run("another period's sign-off", func(t *testing.T) {
		data := t.TempDir()
		reviewStore(t, data, q1Signed)
		list, _ := packChecklist(t, data, "2026-Q2")
		if got := answerOf(t, list, reviewedQuestion); got != "No" {
			t.Errorf("Q2 checklist counts the sign-off of 2026-Q1 signed in April as Q2's review: %s\n%s", got, list)
		}
	})
	t.Run("its own sign-off, signed after the period", func(t *testing.T) {
		data := t.TempDir()
		reviewStore(t, data, q1Signed, q2Signed)
		list, reviews := packChecklist(t, data, "2026-Q2")
		if got := answerOf(t, list, reviewedQuestion); got != "Yes" {
			t.Errorf("Q2 checklist does not count Q2's own sign-off signed in July: %s\n%s", got, list)
		}
		if !strings.Contains(reviews, "access-2026-Q2") {
			t.Errorf("Q2 review records lack Q2's own sign-off:\n%s", reviews)
		}
		list, _ = packChecklist(t, data, "2026-Q3")
		if got := answerOf(t, list, reviewedQuestion); got != "No" {
			t.Errorf("Q3 checklist counts Q2's sign-off signed in July as Q3's review: %s\n%s", got, list)
		}
	})
}

// A sign-off of a --from/--to range (review sign records its bounds as the
// "from" and "to" details) answers for the periods it overlaps, signed once
// the range began. Before, review sign took only a quarter, month or year,
// so the worksheet of a range could not be signed at all.
func TestRangeSignOffCountsForItsPeriod(t *testing.T) {
	d, _ := json.Marshal(map[string]string{"kind": ReviewAccess, "period": "2026-04-01_2026-06-30", "decision": "approved",
		"from": "2026-04-01T00:00:00Z", "to": "2026-07-01T00:00:00Z"})
	ev := collector.Event{Time: time.Date(2026, 7, 3, 10, 0, 0, 0, time.UTC), Key: "/p/events/range", Revision: 30, Actor: "rita",
		Action: ActionReviewSign, Target: "access-2026-04-01_2026-06-30", Ticket: "AUD-2", Reason: "reviewed", Details: d}
	data := t.TempDir()
	reviewStore(t, data, ev)
	if list, reviews := packChecklist(t, data, "2026-Q2"); answerOf(t, list, reviewedQuestion) != "Yes" || !strings.Contains(reviews, "access-2026-04-01_2026-06-30") {
		t.Errorf("Q2 pack does not count the sign-off of 2026-04-01..2026-06-30:\n%s\n%s", list, reviews)
	}
	if list, _ := packChecklist(t, data, "2026-Q3"); answerOf(t, list, reviewedQuestion) != "No" {
		t.Errorf("Q3 pack counts the sign-off of a range that ended before it:\n%s", list)
	}
}

// rangeSignOff is an approved review.sign event of kind for the days from
// and to (YYYY-MM-DD, to inclusive, as review sign --from --to takes
// them), signed at tm.
func rangeSignOff(tm time.Time, rev int64, kind, from, to string) collector.Event {
	f, _ := time.Parse(time.DateOnly, from)
	l, _ := time.Parse(time.DateOnly, to)
	name := from + "_" + to
	d, _ := json.Marshal(map[string]string{"kind": kind, "period": name, "decision": "approved",
		"from": f.Format(time.RFC3339), "to": l.AddDate(0, 0, 1).Format(time.RFC3339)})
	return collector.Event{Time: tm, Key: "/p/events/r" + kind + name, Revision: rev, Actor: "rita", Action: ActionReviewSign,
		Target: kind + "-" + name, Ticket: "AUD-3", Reason: "reviewed", Details: d}
}

// An approved review answers for the days it names: the checklist's
// question is Yes only when one kind's approved reviews together cover
// the whole period. Before, the sign-off of a one-day range answered the
// quarter's question Yes, so a pack could claim a quarter reviewed on
// the strength of a day.
func TestReviewSignOffMustCoverThePeriod(t *testing.T) {
	july := time.Date(2026, 7, 3, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		signs []collector.Event
		want  string
		fact  string
	}{
		{"one day of the quarter", []collector.Event{rangeSignOff(july, 1, ReviewAccess, "2026-05-01", "2026-05-01")},
			"No", "at most 1 of its 91 days"},
		{"the quarter less its last day", []collector.Event{rangeSignOff(july, 1, ReviewAccess, "2026-04-01", "2026-06-29")},
			"No", "at most 90 of its 91 days"},
		{"its three months", []collector.Event{signOff(july, 1, ReviewAccess, "2026-04"), signOff(july, 2, ReviewAccess, "2026-05"),
			signOff(july, 3, ReviewAccess, "2026-06")}, "Yes", "the whole period reviewed: access"},
		{"two months of one kind, the third of another", []collector.Event{signOff(july, 1, ReviewAccess, "2026-04"),
			signOff(july, 2, ReviewAccess, "2026-05"), signOff(july, 3, ReviewLogs, "2026-06")}, "No", "at most 61 of its 91 days"},
		{"overlapping ranges", []collector.Event{rangeSignOff(july, 1, ReviewLogs, "2026-03-15", "2026-05-10"),
			rangeSignOff(july, 2, ReviewLogs, "2026-05-01", "2026-07-15")}, "Yes", "the whole period reviewed: logs"},
		{"the year", []collector.Event{signOff(time.Date(2027, 1, 5, 0, 0, 0, 0, time.UTC), 1, ReviewAccess, "2026")}, "Yes", "the whole period reviewed: access"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := t.TempDir()
			reviewStore(t, data, c.signs...)
			list, _ := packChecklist(t, data, "2026-Q2")
			if got := answerOf(t, list, reviewedQuestion); got != c.want || !strings.Contains(list, c.fact) {
				t.Errorf("answer %s, want %s with %q:\n%s", got, c.want, c.fact, list)
			}
		})
	}
}
