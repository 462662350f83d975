package collector

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// headLagStore writes a store a crash or an attacker then works on: a
// copy of head.json taken at seq 3 (older), the timer's head signed
// durably at seq 5 (durable: what a crash can fall back to at worst),
// and seq 6 to 8 after it, each recording that head; with seal, the
// segment sealed then (its head durable, durableCopy) and seq 9 and 10
// in the next. The newest segment is left open, as a kill leaves it.
func headLagStore(t *testing.T, seal bool) (dir string, cfg StoreConfig, older, durableCopy []byte) {
	t.Helper()
	dir, key := t.TempDir(), newTestKey(t)
	cfg = StoreConfig{SegmentMaxBytes: 1 << 20}
	st := openTestStore(t, dir, key, cfg, 0, 3)
	older = readFile(t, filepath.Join(dir, headFile))
	appendBatches(t, st, 3, 2)
	if _, err := st.SignHead(time.Now()); err != nil { // the --sign-every timer
		t.Fatal(err)
	}
	durableCopy = readFile(t, filepath.Join(dir, headFile))
	appendBatches(t, st, 5, 3)
	if seal { // a rotation, then a segment opened after it
		if err := st.Rotate(); err != nil {
			t.Fatal(err)
		}
		durableCopy = readFile(t, filepath.Join(dir, headFile)) // the seal's, durable
		appendBatches(t, st, 8, 2)
	}
	st.seg.Close() // killed: no seal
	cfg.SigningKey = key
	return dir, cfg, older, durableCopy
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestStartRefusesHeadOlderThanTheChainRecords (headlag170): whoever can
// write the store put back a head.json copied earlier (valid, signed,
// of this chain) and cut the newest entries: the start took it as a
// crash that lost the head's newest renames, cut entries and all. A
// crash never loses a head written with the directory's fsync (the
// --sign-every timer's, at a start, a seal, a retention change), and
// each entry records the newest such head: a head.json older than that
// is refused like an invalid one, naming the file, the lag and
// --accept-missing-head, which records the break naming it.
func TestStartRefusesHeadOlderThanTheChainRecords(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		seal bool
		cut  func(t *testing.T, dir string)
		end  string // the chain's end the error names
	}{
		"older head put back, the newest entry cut": {false, func(t *testing.T, dir string) {
			writeSeg(t, dir, 1, segLines(t, dir, 1)[:7])
		}, "chain's end (seq 7)"},
		"older head put back, nothing cut": {false, nil, "chain's end (seq 8)"},
		"older head put back, the newest segment deleted": {true, func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, segName(2))); err != nil {
				t.Fatal(err)
			}
		}, "chain's end (seq 8)"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir, cfg, older, _ := headLagStore(t, tc.seal)
			writeFile(t, filepath.Join(dir, headFile), older)
			if tc.cut != nil {
				tc.cut(t, dir)
			}
			rep, err := Verify(dir, pubOf(cfg.SigningKey))
			if err != nil {
				t.Fatal(err)
			}
			wantProblems(t, rep, ProblemRolledBack)
			if d := rep.Problems[0].Detail; !strings.Contains(d, "head.json names seq 3") || !strings.Contains(d, "the head naming seq 5 was written durably before it") {
				t.Errorf("verify's problem = %q; want it to name the head and the durable head the chain records", d)
			}
			st, err := OpenStore(dir, cfg)
			if err == nil {
				st.Close()
				t.Fatalf("OpenStore took a head.json of seq 3 put back under entries recording the durable head of seq 5")
			}
			for _, want := range []string{dir, "head.json names seq 3", "the head naming seq 5 was written durably before it",
				"2 entries behind that head", tc.end, "--accept-missing-head", "run audit verify"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("OpenStore = %v\nwant it to name %q", err, want)
				}
			}

			cfg.AcceptMissingHead = "the operator"
			st, err = OpenStore(dir, cfg)
			if err != nil {
				t.Fatalf("OpenStore with AcceptMissingHead: %v", err)
			}
			if st.Stats().Breaks != 1 {
				t.Errorf("breaks = %d, want 1", st.Stats().Breaks)
			}
			st.seg.Close() // killed right after: the next start must not refuse again
			cfg.AcceptMissingHead = ""
			st = openTestStore(t, dir, cfg.SigningKey, cfg, 100, 1)
			st.Close()
			if st.Stats().Breaks != 0 {
				t.Errorf("the start after the accepted one recorded %d breaks", st.Stats().Breaks)
			}
			rep, _ = Verify(dir, pubOf(cfg.SigningKey))
			wantProblems(t, rep, ProblemRecordedBreak)
			if d := rep.Problems[0].Detail; !strings.Contains(d, "head.json names seq 3") || !strings.Contains(d, "accepted at the start by the operator") {
				t.Errorf("break = %q; want it to name the head that stood there and who accepted it", d)
			}
		})
	}
}

// TestStartTakesHeadACrashLeaves: every head.json a crash can leave
// under the entries still starts, without a break: the newest, and each
// back to the last head written durably (the renames after it lost),
// also over a torn last line and after a seal.
func TestStartTakesHeadACrashLeaves(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		seal    bool
		durable bool // put back the durable head: the renames after it lost
		torn    bool
	}{
		"the newest head":                     {},
		"the durable head, renames lost":      {durable: true},
		"the durable head, a torn last line":  {durable: true, torn: true},
		"the durable head after a seal":       {seal: true, durable: true},
		"the newest head after a seal, torn":  {seal: true, torn: true},
		"the newest head, a torn last line":   {torn: true},
		"the durable head after a seal, torn": {seal: true, durable: true, torn: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir, cfg, _, durableCopy := headLagStore(t, tc.seal)
			if tc.durable {
				writeFile(t, filepath.Join(dir, headFile), durableCopy)
			}
			open := uint64(1)
			if tc.seal {
				open = 2
			}
			if tc.torn {
				f, err := os.OpenFile(filepath.Join(dir, segName(open)), os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteString(`{"prev":"00`)
				f.Close()
			}
			st := openTestStore(t, dir, cfg.SigningKey, cfg, 100, 1)
			st.Close()
			if st.Stats().Breaks != 0 {
				t.Errorf("breaks = %d, want none", st.Stats().Breaks)
			}
			rep, _ := Verify(dir, pubOf(cfg.SigningKey))
			wantProblems(t, rep)
		})
	}
}

// TestHeadCutBackToItsCopyNeedsAnAnchor: the limit of the bound. A store
// cut back to the entries of the copy put back (every entry after it
// deleted) records no head newer than the copy: it is the store as it
// was when the copy was taken, which a crash then leaves too, and the
// start takes it. Only a published head tells: the start's anchor check
// refuses it.
func TestHeadCutBackToItsCopyNeedsAnAnchor(t *testing.T) {
	t.Parallel()
	dir, cfg, older, durableCopy := headLagStore(t, false)
	published := filepath.Join(t.TempDir(), "published-head.json")
	writeFile(t, published, durableCopy) // the timer's head, published too
	writeFile(t, filepath.Join(dir, headFile), older)
	writeSeg(t, dir, 1, segLines(t, dir, 1)[:3])
	st, err := OpenStore(dir, cfg)
	if err != nil {
		t.Fatalf("OpenStore refused the store as it was at seq 3: %v", err)
	}
	defer st.Close()
	if st.Stats().Breaks != 0 {
		t.Errorf("breaks = %d, want none: nothing in the store tells this cut", st.Stats().Breaks)
	}
	if _, err := st.CheckAnchors(t.Context(), []HeadPublisher{FileAnchor(published)}, 5*time.Second, false); err == nil || !strings.Contains(err.Error(), published) {
		t.Errorf("CheckAnchors = %v; want the store refused against the head published at %s", err, published)
	}
}

// TestCollectorKilledWithHeadSignerRestarts: a real collector (a child
// process) signing its head every few milliseconds, so durable heads
// fall between the batches, SIGKILLed mid-stream: every start after a
// kill takes the store without a break, its entries recording a durable
// head, and verify passes.
func TestCollectorKilledWithHeadSignerRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns collector processes")
	}
	t.Parallel()
	dir, spool := t.TempDir(), t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "k")
	if err := GenerateKey(keyFile); err != nil {
		t.Fatal(err)
	}
	key, err := LoadPrivateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cfg := fastConfig("http://"+addr, spool)
	cfg.Token = testToken
	cfg.BatchSize = 20
	child := startChild(t, dir, keyFile, addr, "AUDIT_HELPER_SIGN_EVERY=3ms")
	e, err := audit.NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	next := 0
	for round := range 3 {
		stored := e.Stats().Delivered + e.Stats().Replayed
		for e.Stats().Delivered+e.Stats().Replayed < stored+300 {
			r := sampleRecord(next)
			r.SetRequestID([]byte(fmt.Sprintf("r%d", next)))
			next++
			for !e.Emit(&r) {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(200 * time.Microsecond) // steady, not one burst
		}
		child.kill() // mid-stream
		st, err := OpenStore(dir, StoreConfig{SigningKey: key, SegmentMaxBytes: 256 << 10})
		if err != nil {
			t.Fatalf("round %d: the start after a kill refused the store: %v", round, err)
		}
		durableHead := st.durableHead
		st.Close()
		if st.Stats().Breaks != 0 {
			t.Errorf("round %d: breaks = %d, want none", round, st.Stats().Breaks)
		}
		if durableHead == 0 {
			t.Errorf("round %d: no entry records a durable head", round)
		}
		child = startChild(t, dir, keyFile, addr, "AUDIT_HELPER_SIGN_EVERY=3ms")
	}
	child.kill()
	rep, err := Verify(dir, pubOf(key))
	if err != nil || !rep.OK() {
		t.Errorf("verify after kills: %v %+v", err, rep.Problems)
	}
}
