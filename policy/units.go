package policy

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Rate is a compiled token bucket: Events per Per with Burst. The zero Rate
// means no limit.
type Rate struct {
	Events int64
	Per    time.Duration
	Burst  int64
}

// IsZero reports whether r is "no limit".
func (r Rate) IsZero() bool { return r.Events == 0 }

// String renders r as written in a policy ("5/s burst 10").
func (r Rate) String() string {
	if r.IsZero() {
		return "unlimited"
	}
	return fmt.Sprintf("%d/%s burst %d", r.Events, unitName(r.Per), r.Burst)
}

var rateUnits = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "second": time.Second,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute,
	"h": time.Hour, "hour": time.Hour,
}

func unitName(d time.Duration) string {
	switch d {
	case time.Second:
		return "s"
	case time.Minute:
		return "min"
	case time.Hour:
		return "h"
	}
	return d.String()
}

// ParseRate parses "N/unit" (unit s, m or min, h) with a burst; a zero burst
// defaults to the events per second rounded up, at least 1.
func ParseRate(spec LimitSpec) (Rate, error) {
	num, unit, ok := strings.Cut(strings.TrimSpace(spec.Rate), "/")
	if !ok {
		return Rate{}, fmt.Errorf("cannot parse rate %q: want N/s, N/min or N/h", spec.Rate)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n <= 0 || n > 1e9 {
		return Rate{}, fmt.Errorf("cannot parse rate %q: count must be an integer from 1 to 1e9", spec.Rate)
	}
	per, ok := rateUnits[strings.TrimSpace(unit)]
	if !ok {
		return Rate{}, fmt.Errorf("cannot parse rate %q: unknown unit %q", spec.Rate, unit)
	}
	if spec.Burst < 0 || spec.Burst > 1e9 {
		return Rate{}, fmt.Errorf("burst %d for rate %q out of range 1..1e9", spec.Burst, spec.Rate)
	}
	burst := spec.Burst
	if burst == 0 {
		burst = max(1, (n*int64(time.Second)+int64(per)-1)/int64(per))
	}
	return Rate{Events: n, Per: per, Burst: burst}, nil
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

// ParseSize parses a byte size such as "64KiB", "1MiB" or "512".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("cannot parse size %q: want a byte count like 65536, 64KiB or 1MiB", s)
	}
	return n * mult, nil
}

// parseDuration parses a positive Go duration; "" is zero.
func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("cannot parse duration %q: %w", s, err)
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	return d, nil
}

// parseTime parses an RFC 3339 time; "" is the zero time. A key's times
// are compiled to unix nanoseconds, where 0 means "no bound": a time at or
// before the Unix epoch, or past 2262 (which overflows), is refused, or a
// not_after of 1970-01-01T00:00:00Z, 0001-01-01T00:00:00Z or 1600 would
// compile to a key that never expires.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("cannot parse time %q: want RFC 3339 like 2026-01-02T15:04:05Z", s)
	}
	if !t.After(time.Unix(0, 0)) || t.After(maxTime) {
		return time.Time{}, fmt.Errorf("time %q is out of range: want one after 1970-01-01T00:00:00Z and before 2262", s)
	}
	return t, nil
}

// maxTime is the latest time unix nanoseconds hold.
var maxTime = time.Unix(0, math.MaxInt64)
