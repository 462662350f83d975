package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"time"
)

// Duration flags: every command's durations accept days ("90d").

// acceptDays replaces the value of every time.Duration flag of fs with
// one that also accepts days, so that every command's durations take
// "90d", including flags other files register with fs.DurationVar.
func acceptDays(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		if g, ok := f.Value.(flag.Getter); ok {
			if _, isDur := g.Get().(time.Duration); isDur {
				if _, done := f.Value.(*durationValue); !done {
					f.Value = &durationValue{inner: f.Value}
				}
			}
		}
	})
}

// durationValue is a duration flag that accepts days: see parseDuration.
type durationValue struct{ inner flag.Value }

func (d *durationValue) String() string {
	if d == nil || d.inner == nil {
		return ""
	}
	return d.inner.String()
}

// Set parses s with parseDuration and stores it in the flag it wraps.
func (d *durationValue) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	if v < 0 { // no command has a use for one: a --timeout -1s was a deadline already past
		return errNegativeDuration
	}
	return d.inner.Set(v.String())
}

// errNegativeDuration refuses a negative duration, in a flag or argument.
var errNegativeDuration = errors.New("negative; a duration is 0s or more")

// Get returns the duration.
func (d *durationValue) Get() any { return d.inner.(flag.Getter).Get() }

// maxDays bounds the days of a duration: 100 years.
const maxDays = 100 * 365

var daysPrefix = regexp.MustCompile(`^(-?)([0-9]+)d`)

// parseDuration parses a Go duration ("90s", "1h30m") that may start with
// whole days ("90d", "1d12h"). A bare number other than 0 is an error
// naming the fix.
func parseDuration(s string) (time.Duration, error) {
	if _, err := strconv.ParseFloat(s, 64); err == nil && s != "0" {
		return 0, fmt.Errorf("use a unit, e.g. %ss", s)
	}
	var days time.Duration
	neg := false
	if m := daysPrefix.FindStringSubmatch(s); m != nil {
		n, err := strconv.ParseInt(m[2], 10, 32)
		if err != nil || n > maxDays {
			// m[2], not n: past 32 bits n is clamped, and "99999999999d"
			// was called "2147483647 days" (TestParseDuration).
			return 0, fmt.Errorf("%s days is too long: at most %dd", m[2], maxDays)
		}
		days, neg, s = time.Duration(n)*24*time.Hour, m[1] == "-", s[len(m[0]):]
		if s == "" {
			s = "0"
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || (neg && d < 0) {
		return 0, errors.New("want a duration such as 20s, 15m, 24h or 90d")
	}
	if d > 0 && days > math.MaxInt64-d { // the sum wrapped around
		return 0, errors.New("too long: at most 292 years in all")
	}
	if neg {
		return -(days + d), nil
	}
	return days + d, nil
}
