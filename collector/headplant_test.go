package collector

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPlantedHeadTempStillPublishes: a person who can write the store
// plants a directory, not empty, at head.json (one at its temporary name
// is cleared away now: TestHeadInstallClearsWhatIsPlantedAtItsTemp), so
// the collector cannot install head.json any more. The collector went on
// storing batches but published no head either, since signing failed
// first: the anchors stayed where they were, and the batches stored
// since could be cut from the store with verify, against the anchor,
// finding nothing. The head the collector signs now reaches the anchors
// whatever the store directory does with it.
func TestPlantedHeadTempStillPublishes(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	anchor := FileAnchor(filepath.Join(t.TempDir(), "published-head.json"))
	pubs := []HeadPublisher{anchor}
	st := openTestStore(t, dir, key, StoreConfig{}, 0, 2)
	if _, err := st.CheckAnchors(t.Context(), pubs, time.Minute, false); err != nil {
		t.Fatal(err)
	}
	st.signAndPublish(t.Context(), time.Now(), time.Minute, pubs, func(err error) { t.Fatal(err) })
	kept := len(segLines(t, dir, 1))

	plant := filepath.Join(dir, headFile)
	oldHead, err := os.ReadFile(plant)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(plant); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(plant, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	appendBatches(t, st, 2, 3)
	var failed error
	st.signAndPublish(t.Context(), time.Now(), time.Minute, pubs, func(err error) { failed = err })
	if failed == nil {
		t.Error("installing the head through a planted directory did not fail")
	}
	doc, err := os.ReadFile(string(anchor))
	if err != nil {
		t.Fatal(err)
	}
	published, err := OpenHead(doc, pub)
	if err != nil {
		t.Fatal(err)
	}
	if published.Seq != 5 {
		t.Errorf("the anchor names seq %d, want 5: the stored batches' head did not leave the host", published.Seq)
	}

	// The cut: the collector stopped, the batches since the plant removed.
	st.seg.Close()
	writeSeg(t, dir, 1, segLines(t, dir, 1)[:kept])
	os.RemoveAll(plant)
	if err := os.WriteFile(plant, oldHead, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyWith(dir, pub, VerifyOptions{Published: published})
	if err != nil {
		t.Fatal(err)
	}
	wantProblems(t, rep, ProblemRolledBack)
}
