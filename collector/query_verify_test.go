package collector

import (
	"bytes"
	"strings"
	"testing"
)

// An entry re-hashed after an edit, so that its chain still links, has
// no signature of the collector: WriteVerifiedRecords flags its records
// unverified and the others not.
func TestVerifiedQueryFlagsRehashedEntry(t *testing.T) {
	t.Parallel()
	dir, pub := buildStore(t)
	segs, _, _ := listSegments(dir)
	last := segs[len(segs)-1]
	lines := segLines(t, dir, last)
	var l entryLine
	if err := decodeEntryLine(bytes.TrimSuffix(lines[len(lines)-1], []byte("\n")), &l); err != nil {
		t.Fatal(err)
	}
	prev, _ := parseHash(l.Prev)
	body := bytes.Replace(l.Body, []byte(`"tenant":"`), []byte(`"tenant":"forged-`), -1)
	if bytes.Equal(body, l.Body) {
		t.Fatalf("no tenant in %s", l.Body)
	}
	lines[len(lines)-1] = appendEntryLine(nil, prev, chainHash(prev, body), nil, body)
	writeSeg(t, dir, last, lines)

	var out bytes.Buffer
	n, rep, err := WriteVerifiedRecords(&out, dir, Filter{}, OutputJSON, pub, VerifyOptions{})
	if err != nil || n != 36 {
		t.Fatalf("wrote %d records, err %v", n, err)
	}
	if rep.OK() {
		t.Errorf("report OK over a re-hashed entry")
	}
	forged, flagged := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		f := strings.Contains(line, `"`+FlagUnverified+`"`)
		if strings.Contains(line, "forged-") {
			forged++
			if !f {
				t.Errorf("forged record not flagged: %s", line)
			}
		} else if f {
			flagged++
		}
	}
	if forged != 3 || flagged != 0 {
		t.Errorf("%d forged records, %d intact ones flagged; want 3 and 0\n%s", forged, flagged, out.String())
	}
}
