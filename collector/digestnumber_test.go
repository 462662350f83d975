package collector

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStartRefusesDigestOfAnotherSegment: a digest names the segment it
// seals (Segment, File), but the start never compared that with the
// number of the file it read it from: two sealed segments swapped with
// their digests were refused only through the digest chain's link, with
// a message about a signature ("digests replaced or reordered"). The
// start now checks the number each digest names against its file's,
// first, and says so.
func TestStartRefusesDigestOfAnotherSegment(t *testing.T) {
	t.Parallel()
	dir, key, digests, _ := contiguousStore(t)
	a, b := digests[1], digests[2]
	for _, name := range []func(uint64) string{segName, digestName} {
		tmp := filepath.Join(dir, "swap")
		if err := os.Rename(filepath.Join(dir, name(a)), tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, name(b)), filepath.Join(dir, name(a))); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name(b))); err != nil {
			t.Fatal(err)
		}
	}
	st, err := OpenStore(dir, StoreConfig{SigningKey: key, SegmentMaxBytes: 1500})
	if err == nil {
		st.Close()
		t.Fatalf("OpenStore took a store with segments %d and %d swapped, digests and all", a, b)
	}
	want := digestName(a) + `" names segment ` + itoa(int(b))
	if msg := err.Error(); !strings.Contains(msg, want) || !strings.Contains(msg, "run audit verify") {
		t.Errorf("OpenStore = %v; want it to say %q and to run audit verify", err, want)
	}
}
