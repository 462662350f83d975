package evidence

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Period is the span a pack covers: [From, To), named as the pack's file
// names show it ("2026-Q2", "2026-05", "2026", or "FROM_TO").
type Period struct {
	Name string
	From time.Time // inclusive
	To   time.Time // exclusive
}

// ParsePeriod parses a quarter ("2026-Q2"), a month ("2026-05") or a year
// ("2026"), in UTC, each in that one spelling (the pack's name).
func ParsePeriod(s string) (Period, error) {
	if y, q, ok := strings.Cut(s, "-Q"); ok {
		year, err := parseYear(y)
		// One digit: Atoi took "+2" and "02", each another name of Q2.
		if err != nil || len(q) != 1 || q[0] < '1' || q[0] > '4' {
			return Period{}, fmt.Errorf("period %q is not a quarter like 2026-Q2", s)
		}
		from := time.Date(year, time.Month(3*int(q[0]-'1')+1), 1, 0, 0, 0, 0, time.UTC)
		return Period{Name: s, From: from, To: from.AddDate(0, 3, 0)}.namable(s)
	}
	if t, err := time.Parse("2006-01", s); err == nil {
		return Period{Name: s, From: t, To: t.AddDate(0, 1, 0)}.namable(s)
	}
	if year, err := parseYear(s); err == nil {
		from := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
		return Period{Name: s, From: from, To: from.AddDate(1, 0, 0)}.namable(s)
	}
	return Period{}, fmt.Errorf("period %q is not a quarter (2026-Q2), a month (2026-05) or a year (2026)", s)
}

func parseYear(s string) (int, error) {
	y, err := strconv.Atoi(s)
	if err != nil || len(s) != 4 || y < 1970 {
		return 0, fmt.Errorf("year %q is not four digits", s)
	}
	return y, nil
}

// ParseRange parses --from and --to as dates (2026-04-01) or RFC 3339
// times; to is exclusive, and a date as to covers that whole day. The
// range is named FROM_TO by dates, with the time of a bound that is not
// midnight UTC (boundName).
func ParseRange(from, to string) (Period, error) {
	f, err := parseBound(from, false)
	if err != nil {
		return Period{}, err
	}
	t, err := parseBound(to, true)
	if err != nil {
		return Period{}, err
	}
	if !f.Before(t) {
		return Period{}, fmt.Errorf("period from %q is not before to %q", from, to)
	}
	return Period{Name: boundName(f, false) + "_" + boundName(t, true), From: f, To: t}.namable(from + " to " + to)
}

// namable returns p when both its bounds lie in the years 0 to 9999, the
// times RFC 3339 (and so the pack's JSON files) can name; else an error
// naming what. A period ending 10000-01-01 (9999-12, or --to 9999-12-31)
// was taken and failed the pack once it had begun, leaving an empty
// folder (TestPeriodEndsWithinRFC3339).
func (p Period) namable(what string) (Period, error) {
	for _, b := range []time.Time{p.From, p.To} {
		if y := b.Year(); y < 0 || y > 9999 {
			return Period{}, fmt.Errorf("period %q has a bound in year %d: a period's bounds lie in the years 0 to 9999 (its end is exclusive, so the last day a period can cover is 9999-12-30)", what, y)
		}
	}
	return p, nil
}

// boundName names a bound of a range: a midnight (UTC) by its date, the
// last day covered for the end; any other time by its time (UTC, without
// colons, for file names), so a range never takes the name of the whole
// days it cuts into.
func boundName(t time.Time, end bool) string {
	if !t.Equal(t.Truncate(24 * time.Hour)) {
		return t.Format("2006-01-02T150405.999999999Z")
	}
	if end {
		t = t.AddDate(0, 0, -1)
	}
	return t.Format("2006-01-02")
}

func parseBound(s string, end bool) (time.Time, error) {
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q is neither a date (2026-04-01) nor RFC 3339", s)
	}
	return t.UTC(), nil
}

// Contains reports whether t lies in the period.
func (p Period) Contains(t time.Time) bool {
	return !t.Before(p.From) && t.Before(p.To)
}
