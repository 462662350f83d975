package collector

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// passStore writes batches and events interleaved into small segments,
// with records the fast decoder leaves to encoding/json (escapes,
// attributes, flags), signs the head and closes the store.
func passStore(t *testing.T) (string, ed25519.PublicKey) {
	t.Helper()
	dir, key := t.TempDir(), newTestKey(t)
	st, err := OpenStore(dir, StoreConfig{SigningKey: key, SegmentMaxBytes: 4000})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 14 {
		var recs []StoredRecord
		for j := range 3 {
			r := sampleRecord(i*3 + j)
			s := Stored(&r)
			switch (i*3 + j) % 7 {
			case 1:
				s.UserAgent = "quote \" and \u00e9"
			case 2:
				s.Attributes, s.Flags = map[string]string{"a": "b"}, []string{FlagTruncated}
			}
			recs = append(recs, s)
		}
		if err := st.AppendBatch(&Batch{ID: "b" + itoa(i), Sender: "token:s" + itoa(i%2), Pod: "pod-" + itoa(i%3), Records: recs}); err != nil {
			t.Fatal(err)
		}
		if i%4 == 1 {
			ev := Event{Time: time.Date(2026, 3, 4, 5, i, 0, 0, time.UTC), Key: "/e/" + itoa(i), Revision: int64(i), Actor: "alice", Action: "key.revoke", Target: "key_01"}
			if err := st.AppendEvents([]Event{ev}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := st.SignHead(time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, key.Public().(ed25519.PublicKey)
}

// readsOf is what a store yields to QueryRecords, QueryEvents and
// VerifyWith, or to one ReadStore.
type readsOf struct {
	recs []StoredRecord
	evs  []Event
	rep  *VerifyReport
	err  error
}

func readSeparately(dir string, pub ed25519.PublicKey, f Filter, opts VerifyOptions) (r readsOf) {
	if r.err = QueryRecords(dir, f, func(s *StoredRecord) error { r.recs = append(r.recs, *s); return nil }); r.err != nil {
		return r
	}
	if r.err = QueryEvents(dir, time.Time{}, time.Time{}, func(ev *Event) error { r.evs = append(r.evs, *ev); return nil }); r.err != nil {
		return r
	}
	r.rep, r.err = VerifyWith(dir, pub, opts)
	return r
}

func readTogether(dir string, pub ed25519.PublicKey, f Filter, opts VerifyOptions) (r readsOf) {
	r.rep, r.err = ReadStore(dir, Pass{Filter: f, VerifyKey: pub, Verify: opts,
		Records: func(_ *Entry, s *StoredRecord) error { r.recs = append(r.recs, *s); return nil },
		Events:  func(_ *Entry, ev *Event) error { r.evs = append(r.evs, *ev); return nil }})
	return r
}

// TestReadStoreMatchesSeparateReads holds one ReadStore to what
// QueryRecords, QueryEvents and VerifyWith read each on their own, on an
// intact store and on stores tampered with in each way Verify reports.
func TestReadStoreMatchesSeparateReads(t *testing.T) {
	t.Parallel()
	lines := func(t *testing.T, dir string, n uint64, edit func(l [][]byte) [][]byte) {
		writeSeg(t, dir, n, edit(segLines(t, dir, n)))
	}
	cases := []struct {
		name   string
		tamper func(t *testing.T, dir string, last uint64)
	}{
		{"intact", func(*testing.T, string, uint64) {}},
		{"flip a byte", func(t *testing.T, dir string, _ uint64) {
			lines(t, dir, 2, func(l [][]byte) [][]byte {
				l[0] = bytes.Replace(l[0], []byte(`"tenant":"acme"`), []byte(`"tenant":"acmf"`), 1)
				return l
			})
		}},
		{"delete a batch", func(t *testing.T, dir string, _ uint64) {
			lines(t, dir, 3, func(l [][]byte) [][]byte { return l[1:] })
		}},
		{"corrupt line", func(t *testing.T, dir string, _ uint64) {
			lines(t, dir, 2, func(l [][]byte) [][]byte { l[0] = []byte("not json\n"); return l })
		}},
		{"truncate the newest segment mid-entry", func(t *testing.T, dir string, last uint64) {
			p := filepath.Join(dir, segName(last))
			info, _ := os.Stat(p)
			os.Truncate(p, info.Size()-40)
		}},
		{"delete a segment", func(t *testing.T, dir string, _ uint64) { os.Remove(filepath.Join(dir, segName(2))) }},
		{"forge a digest", func(t *testing.T, dir string, _ uint64) {
			p := filepath.Join(dir, digestName(2))
			d, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(d, []byte(`"entries":`), []byte(`"entries":1`), 1), 0o600)
		}},
		{"forged tail", func(t *testing.T, dir string, last uint64) { forgeBatch(t, dir, last, "forged", time.Now()) }},
		{"segment is a symbolic link", func(t *testing.T, dir string, _ uint64) {
			p := filepath.Join(dir, segName(2))
			os.Rename(p, p+".moved")
			os.Symlink(p+".moved", p)
		}},
	}
	filters := []Filter{{}, {Tenant: "acme", From: time.Date(2026, 3, 4, 5, 6, 7, 890123460, time.UTC)}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir, pub := passStore(t)
			segs, _, _ := listSegments(dir)
			if len(segs) < 5 {
				t.Fatalf("want >= 5 segments, got %v", segs)
			}
			c.tamper(t, dir, segs[len(segs)-1])
			for _, f := range filters {
				opts := VerifyOptions{Now: time.Now()}
				want, got := readSeparately(dir, pub, f, opts), readTogether(dir, pub, f, opts)
				if (got.err == nil) != (want.err == nil) || (got.err != nil && got.err.Error() != want.err.Error()) {
					t.Fatalf("ReadStore error %v, separate reads %v", got.err, want.err)
				}
				if got.err != nil {
					continue
				}
				if !reflect.DeepEqual(got.recs, want.recs) || len(got.recs) == 0 {
					t.Errorf("records: got %d, want %d (equal: %v)", len(got.recs), len(want.recs), reflect.DeepEqual(got.recs, want.recs))
				}
				if !reflect.DeepEqual(got.evs, want.evs) || len(got.evs) == 0 {
					t.Errorf("events: got %v, want %v", got.evs, want.evs)
				}
				if !reflect.DeepEqual(got.rep, want.rep) {
					t.Errorf("report:\n got %+v\nwant %+v", got.rep, want.rep)
				}
			}
		})
	}
}

// TestReadStoreSegments reads only the segments a pass accepts, and
// refuses to verify a part of a chain.
func TestReadStoreSegments(t *testing.T) {
	t.Parallel()
	dir, pub := passStore(t)
	all := map[uint64]int{}
	QueryRecords(dir, Filter{}, func(*StoredRecord) error { return nil })
	ScanEntries(dir, func(e *Entry) error { all[e.Segment] += len(e.Records); return nil })
	got := map[uint64]int{}
	_, err := ReadStore(dir, Pass{Segments: func(n uint64) bool { return n == 2 },
		Records: func(e *Entry, _ *StoredRecord) error { got[e.Segment]++; return nil }})
	if err != nil || len(got) != 1 || got[2] != all[2] || got[2] == 0 {
		t.Errorf("segment 2: got %v (err %v), want %d records", got, err, all[2])
	}
	if _, err := ReadStore(dir, Pass{Segments: func(uint64) bool { return true }, VerifyKey: pub}); err == nil {
		t.Error("ReadStore verified a part of a chain")
	}
	// An error of Records ends the pass, verifying or not, wherever it
	// comes.
	stop := errors.New("enough")
	for _, key := range []ed25519.PublicKey{pub, nil} {
		for _, after := range []int{1, 7, 20} {
			n := 0
			_, err := ReadStore(dir, Pass{VerifyKey: key, Records: func(*Entry, *StoredRecord) error {
				if n++; n == after {
					return stop
				}
				return nil
			}})
			if !errors.Is(err, stop) || n != after {
				t.Errorf("key %v, error at record %d: err %v after %d records", key != nil, after, err, n)
			}
		}
	}
	if _, err := ReadStore(t.TempDir(), Pass{VerifyKey: pub}); !errors.Is(err, ErrNoStore) {
		t.Errorf("empty directory: err %v, want ErrNoStore", err)
	}
}
