package collector

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// invalidHeads are the head.json files a store's writer can leave in
// place of the signed head, each with what the start and verify say of
// it: before, each was a break the start recorded and appended past
// (only a head deleted was refused), so whoever could write the store
// emptied or garbled the head instead of deleting it and cut the newest
// entries with only a break recorded. The head is now written through
// (fsync'd) before its rename, so no crash leaves any of them.
func invalidHeads(t *testing.T, dir string) map[string]struct {
	doc  []byte
	want string
} {
	t.Helper()
	head, err := os.ReadFile(filepath.Join(dir, headFile))
	if err != nil {
		t.Fatal(err)
	}
	var d signedDoc
	if err := json.Unmarshal(head, &d); err != nil {
		t.Fatal(err)
	}
	d.Payload = bytes.Replace(d.Payload, []byte(`"seq":`), []byte(`"seq":1`), 1) // names a later entry, its signature kept
	edited, _ := json.Marshal(d)
	other := t.TempDir()
	openTestStore(t, other, newTestKey(t), StoreConfig{}, 0, 3).Close()
	foreign, err := os.ReadFile(filepath.Join(other, headFile))
	if err != nil {
		t.Fatal(err)
	}
	_, digests, _ := listSegments(dir)
	digest, err := os.ReadFile(filepath.Join(dir, digestName(digests[0])))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]struct {
		doc  []byte
		want string
	}{
		"empty":                        {nil, "head.json is empty"},
		"torn":                         {head[:len(head)/2], "head.json is not a valid signed head (cannot parse signed document"},
		"not JSON":                     {[]byte("\x00\x00\x00\x00garbage\n"), "head.json is not a valid signed head (cannot parse signed document"},
		"its payload edited":           {edited, "head.json is not signed by the store's key"},
		"signed by another key":        {foreign, "head.json is not signed by the store's key"},
		"a digest of the store":        {digest, "head.json is not signed by the store's key"},
		"over the size of a head file": {bytes.Repeat([]byte(" "), maxDocBytes+1), "head.json is not a signed head"},
	}
}

// TestStartRefusesStoreWithInvalidHead: a store with entries whose
// head.json is empty, torn, not JSON, edited, signed by another key or
// not a head at all is refused at the start as one whose head is gone,
// naming the file, what is wrong with it and --accept-missing-head;
// with AcceptMissingHead it starts and records the break, naming who
// accepted it; verify says why no crash leaves such a head.
func TestStartRefusesStoreWithInvalidHead(t *testing.T) {
	t.Parallel()
	key := newTestKey(t)
	proto := t.TempDir()
	openTestStore(t, proto, key, StoreConfig{SegmentMaxBytes: 1500}, 0, 12).Close()
	for name, tc := range invalidHeads(t, proto) {
		for _, crash := range []bool{false, true} {
			t.Run(name+map[bool]string{false: ", closed", true: ", crashed with a segment open"}[crash], func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				cfg := StoreConfig{SegmentMaxBytes: 1500}
				st := openTestStore(t, dir, key, cfg, 0, 12)
				if crash {
					st.seg.Close()
				} else {
					st.Close()
				}
				if err := os.WriteFile(filepath.Join(dir, headFile), tc.doc, 0o600); err != nil {
					t.Fatal(err)
				}
				rep, err := Verify(dir, pubOf(key))
				if err != nil {
					t.Fatal(err)
				}
				var told bool
				for _, p := range rep.Problems {
					told = told || strings.Contains(p.Detail, tc.want) && strings.Contains(p.Detail, "no crash leaves it") && strings.Contains(p.Detail, "--published-head")
				}
				if !told {
					t.Errorf("verify's problems = %v; want one saying %q, that no crash leaves it, and to compare with a published head", rep.Problems, tc.want)
				}

				cfg.SigningKey = key
				st, err = OpenStore(dir, cfg)
				if err == nil {
					st.Close()
					t.Fatalf("OpenStore took a store of %d segments whose head.json is %s; want it refused", len(mustList(t, dir)), name)
				}
				for _, want := range []string{tc.want, "no crash leaves it", "run audit verify", "--accept-missing-head", "--publish-head"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("OpenStore = %v; want it to name %q", err, want)
					}
				}
				cfg.AcceptMissingHead = "the operator"
				st = openTestStore(t, dir, key, cfg, 100, 1)
				st.Close()
				if st.Stats().Breaks != 1 {
					t.Errorf("breaks = %d, want 1", st.Stats().Breaks)
				}
				rep, _ = Verify(dir, pubOf(key))
				wantProblems(t, rep, ProblemRecordedBreak)
				if d := rep.Problems[0].Detail; !strings.Contains(d, tc.want) || !strings.Contains(d, "accepted at the start by the operator") {
					t.Errorf("break = %q; want it to name %q and who accepted it", d, tc.want)
				}
			})
		}
	}
}

// TestVerifySaysWhyTheHeadIsInvalid: verify reported a head.json that does
// not verify as "head.json: bad signature" (or the parser's error) and no
// more; it now says what stands there and why no crash leaves it, as for
// a head gone, also for a store of digests alone.
func TestVerifySaysWhyTheHeadIsInvalid(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 1500}, 0, 12).Close()
	for _, n := range mustList(t, dir) {
		if err := os.Remove(filepath.Join(dir, segName(n))); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, headFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(dir, pubOf(key))
	if err != nil {
		t.Fatal(err)
	}
	var named bool
	for _, p := range rep.Problems {
		named = named || strings.Contains(p.Detail, "head.json is empty, but the store holds 0 segment files and 12 digests") && strings.Contains(p.Detail, "no crash leaves it")
	}
	if !named {
		t.Errorf("verify of a store of digests alone, its head emptied: %v; want the head named empty and why no crash leaves it", rep.Problems)
	}
}
