package collector

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"
)

// TestVerifyFindsSignatureEditedInOpenSegment: in the open segment, which
// no digest covers yet, a person who can write the store removes an
// entry's signature, or puts another entry's there. The chain still
// links and hashes, so verify found nothing, while audit query flagged
// the entry's records unverified: a genuine batch made to look forged,
// with verify saying the store is intact. Every entry the collector
// writes carries its signature; verify now checks it in a segment no
// digest covers.
func TestVerifyFindsSignatureEditedInOpenSegment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(lines [][]byte) []byte
	}{
		{"removed", func(lines [][]byte) []byte {
			var l entryLine
			decodeEntryLine(bytes.TrimSuffix(lines[1], []byte("\n")), &l)
			return bytes.Replace(lines[1], []byte(`","sig":"`+l.Sig), nil, 1)
		}},
		{"another entry's", func(lines [][]byte) []byte {
			var a, b entryLine
			decodeEntryLine(bytes.TrimSuffix(lines[1], []byte("\n")), &a)
			decodeEntryLine(bytes.TrimSuffix(lines[2], []byte("\n")), &b)
			return bytes.Replace(lines[1], []byte(a.Sig), []byte(b.Sig), 1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, key := t.TempDir(), newTestKey(t)
			pub := key.Public().(ed25519.PublicKey)
			st := openTestStore(t, dir, key, StoreConfig{}, 0, 4)
			st.seg.Close() // a running collector's open segment
			lines := segLines(t, dir, 1)
			edited := tc.edit(lines)
			if bytes.Equal(edited, lines[1]) {
				t.Fatal("the edit changed nothing")
			}
			lines[1] = edited
			writeSeg(t, dir, 1, lines)

			var out bytes.Buffer
			n, rep, err := WriteVerifiedRecords(&out, dir, Filter{}, OutputJSON, pub, VerifyOptions{})
			if err != nil || n != 8 {
				t.Fatalf("query wrote %d records, err %v", n, err)
			}
			if got := strings.Count(out.String(), FlagUnverified); got != 2 {
				t.Errorf("%d records flagged unverified, want the edited entry's 2", got)
			}
			wantProblems(t, rep, ProblemBadSignature)
			if p := rep.Problems[0]; p.Segment != 1 || p.Entry != 1 || p.Seq != 2 {
				t.Errorf("problem %v, want segment 1 entry 1 seq 2", p)
			}
			rep, err = Verify(dir, pub)
			if err != nil {
				t.Fatal(err)
			}
			wantProblems(t, rep, ProblemBadSignature)
		})
	}
}
