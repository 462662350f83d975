package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/audit"
)

// byteSize is a flag value in bytes: a number with an optional unit, KiB,
// MiB, GiB (powers of 1024) or KB, MB, GB (powers of 1000).
type byteSize int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}

// String writes the size in the unit it divides into (256MiB, not
// 268435456), as --help shows the default.
func (b *byteSize) String() string { return audit.FormatSize(int64(*b)) }

// Set parses s.
func (b *byteSize) Set(s string) error {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return fmt.Errorf("size %q: use a positive number of bytes with an optional unit, e.g. 256MiB", s)
	}
	*b = byteSize(n * mult)
	return nil
}
