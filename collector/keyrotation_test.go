package collector

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rotatedStore writes 3 batches with old, rotates the store to next at a
// restart (StoreConfig.PreviousKey) and writes 3 more with next.
func rotatedStore(t *testing.T, old, next ed25519.PrivateKey) string {
	t.Helper()
	dir := t.TempDir()
	openTestStore(t, dir, old, StoreConfig{}, 0, 3).Close()
	st := openTestStore(t, dir, next, StoreConfig{PreviousKey: old}, 3, 3)
	if now, seg := st.KeyRotated(); !now || seg != 2 {
		t.Fatalf("KeyRotated = %v, %d; want a rotation written at segment 2", now, seg)
	}
	st.Close()
	return dir
}

func pubOf(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// TestKeyRotationVerifies: a store rotated through a rotation entry
// verifies whole with the new key and with the old one, every entry
// marked verified, and a collector started again with the new key alone
// (or still with the old one as previous) goes on without a second
// rotation. Before, a store took one key for good: a collector started
// with another refused it (the old limitation, docs/audit.md).
func TestKeyRotationVerifies(t *testing.T) {
	t.Parallel()
	old, next := newTestKey(t), newTestKey(t)
	dir := rotatedStore(t, old, next)
	for name, pub := range map[string]ed25519.PublicKey{"new": pubOf(next), "old": pubOf(old)} {
		rep, err := Verify(dir, pub)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() || rep.Batches != 6 || rep.KeyRotations != 1 {
			t.Errorf("verify with the %s key: ok %v, %d batches, %d rotations, problems %v; want ok, 6, 1", name, rep.OK(), rep.Batches, rep.KeyRotations, problems(rep))
		}
		n := 0
		if _, err := ScanVerifiedEntries(dir, pub, 0, [32]byte{}, func(e *Entry) error {
			if !e.Verified {
				t.Errorf("%s key: entry %d (%s) not verified", name, e.Seq, e.Kind)
			}
			n++
			return nil
		}); err != nil || n != 7 {
			t.Errorf("%s key: scanned %d entries (%v), want 7", name, n, err)
		}
	}

	st := openTestStore(t, dir, next, StoreConfig{PreviousKey: old}, 6, 1)
	if now, _ := st.KeyRotated(); now {
		t.Error("a store rotated to --signing-key already was rotated again")
	}
	st.Close()
	openTestStore(t, dir, next, StoreConfig{}, 7, 1).Close()
	rep, err := Verify(dir, pubOf(next))
	if err != nil || !rep.OK() || rep.Batches != 8 || rep.KeyRotations != 1 {
		t.Fatalf("after restarts: %v ok %v batches %d rotations %d %v", err, rep.OK(), rep.Batches, rep.KeyRotations, problems(rep))
	}

	// The old key, rotated out, signs nothing more.
	if _, err := OpenStore(dir, StoreConfig{SigningKey: old}); err == nil || !strings.Contains(err.Error(), "rotated out") {
		t.Errorf("OpenStore with the old key = %v, want refused as rotated out", err)
	}
	// Nor does a key the store never had.
	if _, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)}); !errors.Is(err, ErrKeyNotInStore) {
		t.Errorf("OpenStore with another key = %v, want ErrKeyNotInStore", err)
	}
	if rep, err := Verify(dir, pubOf(newTestKey(t))); err != nil || rep.OK() {
		t.Errorf("verify with another key: %v, ok %v; want problems", err, rep != nil && rep.OK())
	}
}

// TestKeySwappedWithoutRotationFails: a store whose key changed with no
// rotation entry (a collector holding only the new key carrying the chain
// on) verifies with neither key, and no collector opens it with the new
// key.
func TestKeySwappedWithoutRotationFails(t *testing.T) {
	t.Parallel()
	old, next := newTestKey(t), newTestKey(t)
	dir := t.TempDir()
	openTestStore(t, dir, old, StoreConfig{}, 0, 3).Close()
	if _, err := OpenStore(dir, StoreConfig{SigningKey: next}); err == nil {
		t.Fatal("OpenStore with a new key and no previous one took a store of the old key")
	}
	// A collector that carries the chain on with the new key anyway.
	st := openTestStore(t, dir, old, StoreConfig{}, 3, 0)
	st.mu.Lock()
	st.cfg.SigningKey = next // swapped, no rotation entry
	st.keys = ringOf(pubOf(next))
	st.mu.Unlock()
	appendBatches(t, st, 3, 3)
	st.Close()
	for name, pub := range map[string]ed25519.PublicKey{"new": pubOf(next), "old": pubOf(old)} {
		rep, err := Verify(dir, pub)
		if err != nil {
			t.Fatal(err)
		}
		if !hasWhat(rep, ProblemBadSignature) {
			t.Errorf("verify with the %s key of a store whose key was swapped without a rotation: problems %v, want a bad signature", name, problems(rep))
		}
	}
	// Nor does the collector start on it, with either key: before, the
	// start checked the newest digest only, which the new key signed.
	for name, key := range map[string]ed25519.PrivateKey{"new": next, "old": old} {
		st, err := OpenStore(dir, StoreConfig{SigningKey: key})
		if err == nil {
			st.Close()
			t.Errorf("OpenStore with the %s key took a store whose key was swapped without a rotation", name)
			continue
		}
		t.Logf("%s key: %v", name, err)
	}
	_, err := OpenStore(dir, StoreConfig{SigningKey: next})
	if err == nil || !strings.Contains(err.Error(), digestName(1)) || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("OpenStore with the new key = %v; want digest %s named as not verifying", err, digestName(1))
	}
}

// TestKeyRotationSignedByWrongKeyFails: a rotation entry naming the
// store's key as the old one but signed by another key, or naming
// another key as the old one, hands the store to no one: verify fails
// with either key and the collector refuses the store.
func TestKeyRotationSignedByWrongKeyFails(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		named func(old, wrong ed25519.PrivateKey) ed25519.PublicKey // the old key the entry names
	}{
		{"names the store's key", func(old, _ ed25519.PrivateKey) ed25519.PublicKey { return pubOf(old) }},
		{"names the wrong key", func(_, wrong ed25519.PrivateKey) ed25519.PublicKey { return pubOf(wrong) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			old, next, wrong := newTestKey(t), newTestKey(t), newTestKey(t)
			dir := t.TempDir()
			st := openTestStore(t, dir, old, StoreConfig{}, 0, 3)
			if err := st.Rotate(); err != nil {
				t.Fatal(err)
			}
			st.mu.Lock()
			if err := st.ensureSegmentLocked(); err != nil {
				t.Fatal(err)
			}
			named := tc.named(old, wrong)
			sig := ed25519.Sign(wrong, rotationMessage(st.prev, st.seq+1, named, pubOf(next)))
			body := st.bodyHeader(nil, KindKeyRotation)
			body = append(body, `,"segment":`+itoa(int(st.segNum))...)
			body = appendStringField(body, `,"old_key":`, base64.StdEncoding.EncodeToString(named))
			body = appendStringField(body, `,"new_key":`, base64.StdEncoding.EncodeToString(pubOf(next)))
			body = appendStringField(body, `,"old_sig":`, base64.StdEncoding.EncodeToString(sig))
			st.cfg.SigningKey = next
			st.keys = ringOf(pubOf(next))
			if err := st.appendLocked(append(body, '}')); err != nil {
				t.Fatal(err)
			}
			st.mu.Unlock()
			appendBatches(t, st, 3, 3)
			st.Close()
			for name, pub := range map[string]ed25519.PublicKey{"new": pubOf(next), "old": pubOf(old), "wrong": pubOf(wrong)} {
				rep, err := Verify(dir, pub)
				if err != nil {
					t.Fatal(err)
				}
				if !hasWhat(rep, ProblemBadSignature) {
					t.Errorf("verify with the %s key: problems %v, want a bad signature", name, problems(rep))
				}
			}
			if _, err := OpenStore(dir, StoreConfig{SigningKey: next}); err == nil {
				t.Error("OpenStore with the new key took a rotation the old key did not sign")
			}
			if _, err := LoadKeys(dir, pubOf(next)); err == nil || !strings.Contains(err.Error(), "old key") {
				t.Errorf("LoadKeys = %v, want a rotation the old key did not sign refused", err)
			}
		})
	}
}

// TestKeyRotationEntryOnlyOpensASegment: a rotation entry the new key
// signed into the middle of a segment (where no reader looks for one)
// hands nothing over and is reported.
func TestKeyRotationEntryOnlyOpensASegment(t *testing.T) {
	t.Parallel()
	old, next := newTestKey(t), newTestKey(t)
	dir := t.TempDir()
	st := openTestStore(t, dir, old, StoreConfig{}, 0, 2)
	st.mu.Lock()
	if err := st.appendLocked(st.rotationBodyFor(old, pubOf(next))); err != nil {
		t.Fatal(err)
	}
	st.mu.Unlock()
	appendBatches(t, st, 2, 1)
	st.Close()
	rep, err := Verify(dir, pubOf(old))
	if err != nil {
		t.Fatal(err)
	}
	if !hasWhat(rep, ProblemBadSignature) || rep.KeyRotations != 0 {
		t.Errorf("problems %v, rotations %d; want the stray rotation reported, none taken", problems(rep), rep.KeyRotations)
	}
}

// TestKeyRotationRefusals: a previous key that is the signing key, or
// that the store was not signed with, rotates nothing.
func TestKeyRotationRefusals(t *testing.T) {
	t.Parallel()
	old, next, other := newTestKey(t), newTestKey(t), newTestKey(t)
	dir := t.TempDir()
	openTestStore(t, dir, old, StoreConfig{}, 0, 2).Close()
	if _, err := OpenStore(dir, StoreConfig{SigningKey: old, PreviousKey: old}); err == nil {
		t.Error("a rotation from a key to itself was taken")
	}
	if _, err := OpenStore(dir, StoreConfig{SigningKey: next, PreviousKey: other}); err == nil {
		t.Error("a rotation from a key the store was not signed with was taken")
	}
	if _, err := os.Stat(filepath.Join(dir, segName(2))); err == nil {
		t.Error("a refused rotation left a segment behind")
	}
	if rep, err := Verify(dir, pubOf(old)); err != nil || !rep.OK() || rep.KeyRotations != 0 {
		t.Errorf("after refused rotations: %v %v", err, problems(rep))
	}
}

// TestKeyRotationOutlivesItsSegment: retention deleting the segment a
// rotation opens leaves the store verifiable with the new key: the
// rotation's copy in key-rotations.log still says the digests kept before
// it are the old key's. Without the copy, they verify with no key given.
func TestKeyRotationOutlivesItsSegment(t *testing.T) {
	t.Parallel()
	old, next := newTestKey(t), newTestKey(t)
	dir := rotatedStore(t, old, next)
	later := time.Now().Add(2 * time.Hour)
	clock := func() time.Time { return later }
	st := openTestStore(t, dir, next, StoreConfig{Retention: time.Hour, Now: clock}, 6, 2)
	if err := st.Maintain(later); err != nil {
		t.Fatal(err)
	}
	appendBatches(t, st, 8, 1)
	st.Close()
	if _, err := os.Stat(filepath.Join(dir, segName(2))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("segment 2, which the rotation opens, is still there (%v)", err)
	}
	rep, err := VerifyWith(dir, pubOf(next), VerifyOptions{Now: later})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.KeyRotations != 1 || rep.Expired < 2 {
		t.Errorf("verify after retention: ok %v, rotations %d, expired %d, problems %v", rep.OK(), rep.KeyRotations, rep.Expired, rep.Problems)
	}
	st = openTestStore(t, dir, next, StoreConfig{Retention: time.Hour, Now: clock}, 9, 1) // the collector starts on it
	st.Close()

	if err := os.Remove(filepath.Join(dir, rotationsFile)); err != nil {
		t.Fatal(err)
	}
	rep, err = VerifyWith(dir, pubOf(next), VerifyOptions{Now: later})
	if err != nil {
		t.Fatal(err)
	}
	if !hasWhat(rep, ProblemBadSignature) {
		t.Errorf("without the rotation's copy: problems %v, want the old key's digests failing", problems(rep))
	}
}

// TestKeyRingOpensHeadWithTheKeyAtItsSegment: a head naming an entry
// before the rotation opens with the old key only, one naming the
// rotation's segment or after with the new key only: an old key, rotated
// out (and perhaps leaked since), publishes no head past the rotation.
func TestKeyRingOpensHeadWithTheKeyAtItsSegment(t *testing.T) {
	t.Parallel()
	old, next := newTestKey(t), newTestKey(t)
	dir := rotatedStore(t, old, next)
	keys, err := LoadKeys(dir, pubOf(next))
	if err != nil || keys.Rotations() != 1 {
		t.Fatalf("LoadKeys = %v, %v", keys, err)
	}
	for _, tc := range []struct {
		key     ed25519.PrivateKey
		segment uint64
		ok      bool
	}{{old, 1, true}, {next, 1, false}, {next, 2, true}, {old, 2, false}, {old, 3, false}} {
		seq := uint64(5) // past the rotation (entry 4)
		if tc.segment == 1 {
			seq = 2 // before it (TestOldKeyHeadPastRotationRefused)
		}
		doc, _, err := signDoc(tc.key, domainHead, storeHead{Segment: tc.segment, Seq: seq})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := keys.OpenHead(doc); (err == nil) != tc.ok {
			t.Errorf("head of segment %d signed by the %v key: OpenHead = %v, want ok %v", tc.segment, map[bool]string{true: "old", false: "new"}[tc.key.Equal(old)], err, tc.ok)
		}
	}
}

// TestJunkFirstLineIsNoRotation: a segment whose first line is junk (no
// kind at all) is verify's to report, as before rotations: it is no key
// rotation to check, and the collector still starts on the store.
func TestJunkFirstLineIsNoRotation(t *testing.T) {
	t.Parallel()
	key := newTestKey(t)
	dir := t.TempDir()
	st := openTestStore(t, dir, key, StoreConfig{}, 0, 2)
	if err := st.Rotate(); err != nil {
		t.Fatal(err)
	}
	appendBatches(t, st, 2, 1)
	st.Close()
	writeSeg(t, dir, 1, append([][]byte{[]byte("junk\n")}, segLines(t, dir, 1)...))
	st, err := OpenStore(dir, StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatalf("OpenStore of a store with a junk line = %v", err)
	}
	st.Close()
	rep, err := Verify(dir, pubOf(key))
	if err != nil || rep.OK() || rep.KeyRotations != 0 {
		t.Errorf("verify: %v, problems %v; want the junk reported and no rotation", err, problems(rep))
	}
}
