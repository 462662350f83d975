package jwt

import (
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"testing"
)

// numericDateExact is numericDate worked out with math/big: the JSON
// number raw as an exact rational, its floor, and whether it is whole.
func numericDateExact(raw []byte) (secs int64, frac bool, st Status) {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return 0, false, BadClaim
	}
	if _, isNum := v.(float64); !isNum {
		return 0, false, BadClaim
	}
	r, ok := new(big.Rat).SetString(string(raw))
	if !ok || r.Sign() < 0 || r.Cmp(big.NewRat(maxNumericDate, 1)) > 0 {
		return 0, false, BadClaim
	}
	q := new(big.Int).Quo(r.Num(), r.Denom())
	return q.Int64(), !r.IsInt(), OK
}

// TestNumericDateExact: a date is read from its decimal digits, not
// through a float64, which rounded N.99999999999999999 up to N+1.
func TestNumericDateExact(t *testing.T) {
	cases := []struct {
		raw  string
		secs int64
		frac bool
		st   Status
	}{
		{"1700000000", 1700000000, false, OK},
		{"1700000000.99999999999999999", 1700000000, true, OK},
		{"1700000000.0000", 1700000000, false, OK},
		{"1700000000.5", 1700000000, true, OK},
		{"1.7e9", 1700000000, false, OK},
		{"17000000001e-1", 1700000000, true, OK},
		{"1.70000000099999999999e9", 1700000000, true, OK},
		{"0", 0, false, OK},
		{"-0", 0, false, OK},
		{"0e999999999999", 0, false, OK},
		{"1e-400", 0, true, OK},
		{"100000000000", maxNumericDate, false, OK},
		{"100000000000.000000000001", 0, false, BadClaim},
		{"1e400", 0, false, BadClaim},
		{"99999999999999999999", 0, false, BadClaim},
		{"-1", 0, false, BadClaim},
		{"-0.5", 0, false, BadClaim},
		{`"1700000000"`, 0, false, BadClaim},
		{"01", 0, false, BadClaim},
		{"1.", 0, false, BadClaim},
		{".5", 0, false, BadClaim},
		{"1e", 0, false, BadClaim},
		{"1e+", 0, false, BadClaim},
		{"1 ", 0, false, BadClaim},
		{"true", 0, false, BadClaim},
		{"", 0, false, BadClaim},
	}
	for _, c := range cases {
		secs, frac, st := numericDate([]byte(c.raw))
		if secs != c.secs || frac != c.frac || st != c.st {
			t.Errorf("numericDate(%s) = %d, %v, %v; want %d, %v, %v", c.raw, secs, frac, st, c.secs, c.frac, c.st)
		}
		if es, ef, est := numericDateExact([]byte(c.raw)); c.raw != "" && (es != secs || ef != frac || est != st) {
			t.Errorf("numericDate(%s) = %d, %v, %v; math/big says %d, %v, %v", c.raw, secs, frac, st, es, ef, est)
		}
	}
}

// FuzzNumericDate checks numericDate against math/big on any bytes.
func FuzzNumericDate(f *testing.F) {
	for _, s := range []string{"1700000000", "1700000000.99999999999999999", "1.7e9", "-0", "1e-400", "100000000000", "01", "1e+5"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 64 || hugeExponent(raw) {
			return // math/big works out 10^e in full; numericDate's bounds are TestNumericDateExact's
		}
		secs, frac, st := numericDate(raw)
		es, ef, est := numericDateExact(raw)
		if secs != es || frac != ef || st != est {
			t.Fatalf("numericDate(%q) = %d, %v, %v; math/big says %d, %v, %v", raw, secs, frac, st, es, ef, est)
		}
	})
}

// hugeExponent reports whether raw has an exponent math/big would take
// long over.
func hugeExponent(raw []byte) bool {
	i := strings.IndexAny(string(raw), "eE")
	if i < 0 {
		return false
	}
	e, err := strconv.Atoi(strings.TrimPrefix(string(raw[i+1:]), "+"))
	return err != nil || e > 400 || e < -400
}
