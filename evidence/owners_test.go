package evidence

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOwnedMeansEveryFileHasAnOwner: "Is evidence mapped to controls,
// owned, reviewed and approved?" took any owner map as owned: with only
// "Auth = iam-team" given, the Rate Limit, Logging, Abuse and Privileged
// Endpoint files stood "unassigned" in the manifest under Yes, "owners
// given: true". It is Yes only when every area of the pack's files has an
// owner, and the fact names the areas without one.
func TestOwnedMeansEveryFileHasAnOwner(t *testing.T) {
	data, key := t.TempDir(), newKey(t)
	activity(t, data, key)
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePeriod("2026-Q2")
	if err != nil {
		t.Fatal(err)
	}
	const q = "| Is evidence mapped to controls, owned, reviewed and approved? |"
	every := map[string]string{"Auth": "iam", "Rate Limit": "platform", "Logging": "secops", "Abuse": "secops", "Privileged Endpoint": "iam"}
	for _, tt := range []struct {
		name   string
		owners map[string]string
		answer string
		fact   string
	}{
		{"one area", map[string]string{"Auth": "iam"}, "No", "owners: NONE for Abuse, Logging, Privileged Endpoint, Rate Limit (their files are unassigned in the manifest)"},
		{"every area", every, "Yes", "owners: every area's files have one"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Owners: tt.owners})
			if err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(filepath.Join(res.Dir, FileName("APIGovernance", "ISO27017Checklist", p.Name, "md")))
			if err != nil {
				t.Fatal(err)
			}
			list := string(raw)
			if got := answerOf(t, list, q); got != tt.answer || !strings.Contains(lineOf(list, q), tt.fact) {
				t.Errorf("answered %s, want %s with %q:\n%s", got, tt.answer, tt.fact, lineOf(list, q))
			}
			for _, r := range res.Files {
				if unassigned := r.Owner == "unassigned"; unassigned != (tt.answer == "No" && r.Area != "Auth") {
					t.Errorf("manifest row %s (%s): owner %q", r.File, r.Area, r.Owner)
				}
			}
		})
	}
}
