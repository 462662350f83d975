package collector

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
)

// buildStore writes 12 batches of 3 records into segments of about 3
// batches each, leaving the last segment open (unsigned) as a live
// collector would.
func buildStore(t *testing.T) (string, ed25519.PublicKey) {
	t.Helper()
	dir := t.TempDir()
	key := newTestKey(t)
	st, err := OpenStore(dir, StoreConfig{SigningKey: key, SegmentMaxBytes: 5000})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		var recs []StoredRecord
		for j := range 3 {
			r := sampleRecord(i*3 + j)
			recs = append(recs, Stored(&r))
		}
		if err := st.AppendBatch(&Batch{ID: "b" + itoa(i), Records: recs}); err != nil {
			t.Fatal(err)
		}
	}
	segs, digests, _ := listSegments(dir)
	if len(segs) < 4 || len(digests) != len(segs)-1 {
		t.Fatalf("want >= 4 segments, the last open; got segments %v digests %v", segs, digests)
	}
	return dir, key.Public().(ed25519.PublicKey)
}

func segLines(t *testing.T, dir string, n uint64) [][]byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, segName(n)))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
}

func writeSeg(t *testing.T, dir string, n uint64, lines [][]byte) {
	t.Helper()
	data := bytes.Join(lines, nil)
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data, '\n')
	}
	if err := os.WriteFile(filepath.Join(dir, segName(n)), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyIntact(t *testing.T) {
	t.Parallel()
	dir, pub := buildStore(t)
	rep, err := Verify(dir, pub)
	if err != nil || !rep.OK() || rep.Batches != 12 || rep.Records != 36 || rep.Unsigned != 0 {
		t.Fatalf("intact store: err %v report %+v", err, rep)
	}
	if rep.First.IsZero() || !rep.Last.After(rep.First) {
		t.Errorf("first %v last %v", rep.First, rep.Last)
	}
	other := newTestKey(t).Public().(ed25519.PublicKey)
	if rep, _ := Verify(dir, other); !hasProblem(rep, 1, ProblemBadSignature) {
		t.Errorf("wrong key: got %v, want bad signature", rep.Problems)
	}
}

func hasProblem(rep *VerifyReport, seg uint64, what string) bool {
	for _, p := range rep.Problems {
		if p.Segment == seg && p.What == what {
			return true
		}
	}
	return false
}

func TestVerifyFindsTampering(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		tamper func(t *testing.T, dir string, last uint64)
		seg    func(last uint64) uint64
		what   string
		entry  int
	}{
		{"flip a byte", func(t *testing.T, dir string, _ uint64) {
			l := segLines(t, dir, 2)
			l[1] = bytes.Replace(l[1], []byte(`"tenant":"acme"`), []byte(`"tenant":"acmf"`), 1)
			writeSeg(t, dir, 2, l)
		}, fixed(2), ProblemHashMismatch, 1},
		{"delete a record", func(t *testing.T, dir string, _ uint64) {
			l := segLines(t, dir, 2)
			i := bytes.Index(l[0], []byte(`},{"time"`))
			j := bytes.Index(l[0][i+2:], []byte(`},{"time"`))
			l[0] = append(l[0][:i+1:i+1], l[0][i+2+j+1:]...)
			writeSeg(t, dir, 2, l)
		}, fixed(2), ProblemHashMismatch, 0},
		{"delete a batch", func(t *testing.T, dir string, _ uint64) {
			l := segLines(t, dir, 2)
			writeSeg(t, dir, 2, append(l[:1:1], l[2:]...))
		}, fixed(2), ProblemChainBreak, 1},
		{"reorder two batches", func(t *testing.T, dir string, _ uint64) {
			l := segLines(t, dir, 3)
			l[0], l[1] = l[1], l[0]
			writeSeg(t, dir, 3, l)
		}, fixed(3), ProblemChainBreak, 0},
		{"delete a segment", func(t *testing.T, dir string, _ uint64) {
			os.Remove(filepath.Join(dir, segName(2)))
		}, fixed(2), ProblemMissingSegment, -1},
		{"delete a segment and its digest", func(t *testing.T, dir string, _ uint64) {
			os.Remove(filepath.Join(dir, segName(2)))
			os.Remove(filepath.Join(dir, digestName(2)))
		}, fixed(2), ProblemMissingSegment, -1},
		{"delete the first segment and its digest", func(t *testing.T, dir string, _ uint64) {
			os.Remove(filepath.Join(dir, segName(1)))
			os.Remove(filepath.Join(dir, digestName(1)))
		}, fixed(1), ProblemMissingSegment, -1},
		{"truncate the newest segment mid-entry", func(t *testing.T, dir string, last uint64) {
			p := filepath.Join(dir, segName(last))
			info, _ := os.Stat(p)
			os.Truncate(p, info.Size()-40)
		}, same, ProblemTruncated, -2},
		{"drop the newest entry", func(t *testing.T, dir string, last uint64) {
			l := segLines(t, dir, last)
			writeSeg(t, dir, last, l[:len(l)-1])
		}, same, ProblemTruncated, -1},
		{"delete the newest segment", func(t *testing.T, dir string, last uint64) {
			os.Remove(filepath.Join(dir, segName(last)))
		}, same, ProblemMissingSegment, -1},
		{"truncate a closed segment", func(t *testing.T, dir string, _ uint64) {
			l := segLines(t, dir, 1)
			writeSeg(t, dir, 1, l[:len(l)-1])
		}, fixed(1), ProblemDigestMismatch, -1},
		{"forge a digest", func(t *testing.T, dir string, _ uint64) {
			p := filepath.Join(dir, digestName(2))
			d, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(d, []byte(`"entries":`), []byte(`"entries":1`), 1), 0o600)
		}, fixed(2), ProblemBadSignature, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir, pub := buildStore(t)
			segs, _, _ := listSegments(dir)
			last := segs[len(segs)-1]
			c.tamper(t, dir, last)
			rep, err := Verify(dir, pub)
			if err != nil {
				t.Fatal(err)
			}
			seg := c.seg(last)
			found := false
			for _, p := range rep.Problems {
				if p.Segment == seg && p.What == c.what && (c.entry == -2 || p.Entry == c.entry) {
					found = true
				}
			}
			if !found {
				t.Errorf("want %q in segment %d entry %d; got %v", c.what, seg, c.entry, rep.Problems)
			}
		})
	}
}

func fixed(n uint64) func(uint64) uint64 { return func(uint64) uint64 { return n } }

func same(last uint64) uint64 { return last }
