package etcdsync

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/tmpfs"
	"github.com/portcullis/portcullis/policy/policytest"
)

// lkgStates are states whose records hold what JSON must escape: quotes,
// backslashes, HTML, control characters, U+2028, invalid UTF-8, and maps
// that are empty or absent.
func lkgStates() map[string]*State {
	odd := `{"id":"k<1>","note":"a \"quoted\" \\ & <b>` + "\u2028\x01\xff" + `"}`
	full := newState()
	full.Revision, full.Policy = 42, "version: 1\nname: \"<acme>\" & co\n"
	full.Keys["k1"], full.Keys["k<2>"], full.Keys["\u00e9"] = odd, "{}", ""
	full.Revocations["k1"], full.Revocations["jti:abc"] = `{"id":"k1"}`, odd
	full.Suspensions["acme-hris"] = `{"client":"acme-hris","until":"2026-12-02T00:00:00Z"}`
	return map[string]*State{
		"records that need escaping": full,
		"empty maps":                 {Revision: 1, Policy: "p", Keys: map[string]string{}, Revocations: map[string]string{}, Suspensions: map[string]string{}},
		"absent maps":                {Revision: 2, Policy: "p"},
	}
}

// encodeLKG writes the document json.Marshal makes of the file's content,
// and readLKG reads back the same state.
func TestEncodeLKGIsMarshal(t *testing.T) {
	saved := time.Date(2026, 12, 2, 1, 2, 3, 456789, time.FixedZone("x", 3600))
	for name, st := range lkgStates() {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(lkg{Saved: saved.UTC(), State: st})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := writeLKG(dir, st, saved); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(dir, lkgFile))
			if err != nil {
				t.Fatal(err)
			}
			doc, err := lkgChecksum(got)
			if err != nil {
				t.Fatalf("%v:\n%s", err, got)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, doc); err != nil {
				t.Fatalf("the file is not JSON: %v\n%s", err, got)
			}
			if !bytes.Equal(compact.Bytes(), want) {
				t.Fatalf("file (compacted):\n%s\njson.Marshal:\n%s", compact.Bytes(), want)
			}
			back, err := readLKGFile(dir)
			if err != nil {
				t.Fatal(err)
			}
			// What json.Marshal wrote read back: the same records, but for
			// invalid UTF-8, which JSON carries as U+FFFD.
			same, err := decodeLKG("marshalled", want)
			if err != nil {
				t.Fatal(err)
			}
			if !back.State.equal(same.State) || back.State.Revision != st.Revision || !back.Saved.Equal(saved) {
				t.Fatalf("read back %+v saved %v, want %+v saved %v", back.State, back.Saved, same.State, saved)
			}
		})
	}
}

// A file that does not fit on the disk is an error, and the file saved
// before it stays whole.
func TestWriteLKGFullDisk(t *testing.T) {
	dir := tmpfs.Mount(t, 256<<10)
	small := &State{Revision: 1, Policy: "small", Keys: map[string]string{"k1": "{}"}}
	if err := writeLKG(dir, small, time.Now()); err != nil {
		t.Fatal(err)
	}
	big := &State{Revision: 2, Policy: strings.Repeat("x", 300<<10)}
	err := writeLKG(dir, big, time.Now())
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("writeLKG of 300 KiB on a 256 KiB disk = %v, want no space left on device", err)
	}
	back, err := readLKGFile(dir)
	if err != nil || back.State.Revision != 1 || back.State.Policy != "small" {
		t.Fatalf("after the failed save, readLKG = %+v, %v; want the state of revision 1", back, err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "."+lkgFile+"-*"))
	if len(left) > 0 {
		t.Fatalf("the failed save left %v behind", left)
	}
}

// BenchmarkWriteLKG saves the state of 100,000 key records (1,000
// clients), as a Syncer does after each change it applies.
func BenchmarkWriteLKG(b *testing.B) {
	st := newState()
	for i := range 100_000 {
		_, ks := policytest.Key(i, policytest.ClientID(i%1000))
		v, err := json.Marshal(ks)
		if err != nil {
			b.Fatal(err)
		}
		st.Keys[ks.ID] = string(v)
	}
	st.Policy = fmt.Sprintf("version: 1\n# %d keys\n", len(st.Keys))
	dir := b.TempDir()
	b.ReportAllocs()
	for b.Loop() {
		if err := writeLKG(dir, st, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
