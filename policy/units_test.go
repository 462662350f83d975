package policy

import (
	"strings"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rate  string
		burst int64
		want  Rate
	}{
		{"5/s", 0, Rate{5, time.Second, 5}},
		{"5/s", 10, Rate{5, time.Second, 10}},
		{"100/sec", 0, Rate{100, time.Second, 100}},
		{"1/second", 0, Rate{1, time.Second, 1}},
		{"10/m", 0, Rate{10, time.Minute, 1}},
		{"10/min", 5, Rate{10, time.Minute, 5}},
		{"90/minute", 0, Rate{90, time.Minute, 2}}, // 1.5/s rounds up
		{"3600/h", 0, Rate{3600, time.Hour, 1}},
		{"7201/hour", 0, Rate{7201, time.Hour, 3}},
		{" 5 / s ", 0, Rate{5, time.Second, 5}},
		{"1000000000/s", 0, Rate{1e9, time.Second, 1e9}},
	}
	for _, tt := range tests {
		got, err := ParseRate(LimitSpec{Rate: tt.rate, Burst: tt.burst})
		if err != nil || got != tt.want {
			t.Errorf("ParseRate(%q, %d) = %+v, %v; want %+v", tt.rate, tt.burst, got, err, tt.want)
		}
	}
}

func TestParseRateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rate  string
		burst int64
		want  string
	}{
		{"5/fortnight", 0, `cannot parse rate "5/fortnight": unknown unit "fortnight"`},
		{"x/s", 0, `cannot parse rate "x/s": count must be an integer from 1 to 1e9`},
		{"0/s", 0, `cannot parse rate "0/s": count must be an integer from 1 to 1e9`},
		{"-1/s", 0, `cannot parse rate "-1/s": count must be an integer from 1 to 1e9`},
		{"1000000001/s", 0, `cannot parse rate "1000000001/s": count must be an integer from 1 to 1e9`},
		{"5", 0, `cannot parse rate "5": want N/s, N/min or N/h`},
		{"", 0, `cannot parse rate "": want N/s, N/min or N/h`},
		{"5/s", -1, `burst -1 for rate "5/s" out of range 1..1e9`},
		{"5/s", 2e9, `burst 2000000000 for rate "5/s" out of range 1..1e9`},
	}
	for _, tt := range tests {
		_, err := ParseRate(LimitSpec{Rate: tt.rate, Burst: tt.burst})
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseRate(%q, %d) error = %v, want %q", tt.rate, tt.burst, err, tt.want)
		}
	}
}

func TestRateString(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		r    Rate
		want string
	}{
		{Rate{}, "unlimited"},
		{Rate{5, time.Second, 10}, "5/s burst 10"},
		{Rate{10, time.Minute, 5}, "10/min burst 5"},
		{Rate{1, time.Hour, 1}, "1/h burst 1"},
	} {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.r, got, tt.want)
		}
	}
	if !(Rate{}).IsZero() || (Rate{Events: 1}).IsZero() {
		t.Error("IsZero wrong")
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"512", 512},
		{"512B", 512},
		{"64KiB", 64 << 10},
		{"1MiB", 1 << 20},
		{"2GiB", 2 << 30},
		{"64KB", 64000},
		{"1MB", 1e6},
		{"1GB", 1e9},
		{" 8 KiB ", 8 << 10},
		{"1024GiB", 1 << 40},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "KiB", "1.5MiB", "-1", "1TiB", "1025GiB", "x", "1 kib", "9999999999999999999"} {
		_, err := ParseSize(bad)
		if err == nil || !strings.HasPrefix(err.Error(), "cannot parse size ") {
			t.Errorf("ParseSize(%q) error = %v, want cannot parse size", bad, err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	if d, err := parseDuration(""); d != 0 || err != nil {
		t.Errorf(`parseDuration("") = %v, %v; want 0, nil`, d, err)
	}
	if d, err := parseDuration("1m30s"); d != 90*time.Second || err != nil {
		t.Errorf(`parseDuration("1m30s") = %v, %v`, d, err)
	}
	for _, bad := range []string{"-1s", "5", "soon"} {
		if _, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) succeeded", bad)
		}
	}
}
