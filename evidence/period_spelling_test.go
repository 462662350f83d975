package evidence

import (
	"strings"
	"testing"
)

// TestPeriodHasOneSpelling: a quarter's number went through strconv.Atoi,
// which takes a sign and leading zeros, so "2026-Q02", "2026-Q+2" and
// "2026-Q002" were each the second quarter under a name of its own: a
// second pack of the same quarter (evidence-2026-Q02, its manifest's
// Period Covered 2026-Q02) beside evidence-2026-Q2, a review signed for a
// period no worksheet of 2026-Q2 names, and a "+" in the pack's file
// names. They are now refused, naming the period and the form wanted.
func TestPeriodHasOneSpelling(t *testing.T) {
	for _, bad := range []string{"2026-Q02", "2026-Q+2", "2026-Q002", "2026-Q-0", "2026-Q٢"} {
		p, err := ParsePeriod(bad)
		if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "2026-Q2") {
			t.Errorf("ParsePeriod(%q) = %+v, %v; want an error naming it and the form 2026-Q2", bad, p, err)
		}
	}
}
