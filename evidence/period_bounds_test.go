package evidence

import (
	"strings"
	"testing"
)

// TestPeriodEndsWithinRFC3339: a period or range whose bound lies outside
// the years 0-9999 was taken, and the pack failed after it had started,
// leaving an empty evidence folder: `evidence pack --period 9999-12` (it
// ends 10000-01-01) and `--from 0001-01-01 --to 9999-12-31` exited 1 with
// "cannot build APIRateLimits-GatewayConfigExport: json: error calling
// MarshalJSON for type time.Time: Time.MarshalJSON: year outside of range
// [0,9999]". They are refused when parsed, naming the value.
func TestPeriodEndsWithinRFC3339(t *testing.T) {
	for _, s := range []string{"9999-12", "9999-Q4", "9999"} {
		p, err := ParsePeriod(s)
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("ParsePeriod(%q) = %+v, %v; want an error naming it", s, p, err)
		}
	}
	for _, r := range [][2]string{{"0001-01-01", "9999-12-31"}, {"2026-01-01", "9999-12-31T23:30:00-01:00"}, {"0000-01-01T00:30:00+01:00", "2026-01-01"}} {
		p, err := ParseRange(r[0], r[1])
		if err == nil {
			t.Errorf("ParseRange(%q, %q) = %+v; want an error", r[0], r[1], p)
			continue
		}
		if !strings.Contains(err.Error(), "9999") {
			t.Errorf("ParseRange(%q, %q): %v; want it to name the years a bound can have", r[0], r[1], err)
		}
	}
	for _, s := range []string{"9999-11", "9999-Q3", "9998", "0000-01"} {
		p, err := ParsePeriod(s)
		if err != nil {
			t.Errorf("ParsePeriod(%q): %v; want it taken", s, err)
			continue
		}
		if _, err := p.To.MarshalJSON(); err != nil {
			t.Errorf("ParsePeriod(%q) ends %v, which JSON cannot hold: %v", s, p.To, err)
		}
	}
	if _, err := ParseRange("0001-01-01", "9999-12-30"); err != nil {
		t.Errorf("ParseRange of the widest range a pack can name: %v", err)
	}
}
