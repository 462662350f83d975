package evidence

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// TestChecklistControlsHeldAllPeriod: the rate limits, the bulk export
// limits and the 429 spike rule are controls the period had in force,
// yet the checklist answered them from the policy in force at the
// period's end alone: a policy without the spike rule and without the
// bulk class's limits for the whole quarter, fixed by a push on its last
// day, answered "Are 429 spikes monitored?" and "Are bulk exports
// controlled?" Yes, and the limits' fact was the same fixed sentence
// whatever the answer. Each now holds only when every revision in force
// during the period has it, and the fact names the revisions that lack
// it.
func TestChecklistControlsHeldAllPeriod(t *testing.T) {
	good, err := os.ReadFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	weak := strings.Replace(string(good), "  - {name: rate-limit-spike, kind: rate_limit_spike, threshold: 100, window: 5m, baseline: 1h, factor: 5, severity: medium}\n", "", 1)
	weak = strings.Replace(weak, "    limit: {rate: 10/min, burst: 5}\n    concurrency: {max: 2, queue: 2, max_wait: 2s}\n", "", 1)
	if weak == string(good) || strings.Contains(weak, "rate_limit_spike") {
		t.Fatal("the example policy changed: the test's edits no longer apply")
	}
	hist := []etcdadmin.HistoryEntry{
		{Revision: 7, Time: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), Actor: "ops", Digest: "d7", Document: weak},
		{Revision: 93, Time: time.Date(2026, 6, 30, 17, 0, 0, 0, time.UTC), Actor: "ops", Digest: "d93", Document: string(good)},
	}
	data, key := t.TempDir(), newKey(t)
	activity(t, data, key)
	p, err := ParsePeriod("2026-Q2")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(res.Dir, FileName("APIGovernance", "ISO27017Checklist", p.Name, "md")))
	if err != nil {
		t.Fatal(err)
	}
	list := string(raw)
	const lacking = "NO in 1 of the 2 revisions in force during the period: revision 7 (in force 2026-04-01T00:00:00Z to 2026-06-30T17:00:00Z)"
	for _, q := range []string{"| Are 429 spikes monitored? |", "| Are bulk exports controlled? |"} {
		if got := answerOf(t, list, q); got != "No" || !strings.Contains(lineOf(list, q), lacking) {
			t.Errorf("%s answered %s, want No naming %q:\n%s", q, got, lacking, list)
		}
	}
	// The limits held in both revisions: Yes, and the fact says so.
	const q = "| Are limits documented by token, tenant and endpoint class? |"
	if got := answerOf(t, list, q); got != "Yes" || !strings.Contains(lineOf(list, q), "yes, in the 2 revisions in force during the period") {
		t.Errorf("%s answered %s:\n%s", q, got, list)
	}
}

// lineOf returns the line of text that starts with prefix.
func lineOf(text, prefix string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
