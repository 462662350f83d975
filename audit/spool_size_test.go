package audit

import (
	"strings"
	"testing"
)

// A full spool said "over the 1048576 byte limit" where the sidecar was
// given --spool-max 1MiB; it now names the limit as a size in its unit.
func TestSpoolFullNamesSizeInUnits(t *testing.T) {
	t.Parallel()
	s, err := openSpool(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	err = s.put(1, 1, make([]byte, 1<<20+1))
	if err == nil || !strings.Contains(err.Error(), "over the 1MiB limit") {
		t.Errorf("put over the bound = %v, want it to name the 1MiB limit", err)
	}
	for n, want := range map[int64]string{256 << 20: "256MiB", 1 << 30: "1GiB", 1536 << 10: "1536KiB", 100e6: "100MB", 1000: "1KB", 1023: "1023B"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// put writes one batch as the Emitter does: its room reserved, then
// written (spool.write), the room given back when the write failed.
func (s *spool) put(seq uint64, records int, data []byte) error {
	if err := s.reserve(seq, len(data)); err != nil {
		return err
	}
	w := []spoolWrite{{f: spoolFile{name: spoolName(seq, records), seq: seq, records: records, size: int64(len(data)), ours: true}, data: data}}
	s.write(w)
	if w[0].err != nil {
		s.unreserve(len(data))
	}
	return w[0].err
}
