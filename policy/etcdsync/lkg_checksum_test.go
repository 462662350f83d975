package etcdsync

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A last-known-good file changed after its save (a bit flipped on the
// disk, a torn write, an edit) is refused, not served: before, any change
// that left valid JSON was loaded, so a flipped byte in a revocation's
// key id brought the key back at a restart while etcd was away.
func TestLKGCorruptionRefused(t *testing.T) {
	t.Parallel()
	st := newState()
	st.Revision, st.Policy = 7, "version: 1\n"
	st.Keys["k1"], st.Keys["k2"] = `{"id":"k1"}`, `{"id":"k2"}`
	st.Revocations["k1"] = `{"id":"k1"}`
	dir := t.TempDir()
	if err := writeLKG(dir, st, time.Now()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, lkgFile)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := readLKGFile(dir); err != nil || l.State.Revocations["k1"] == "" {
		t.Fatalf("intact file: %+v, %v", l, err)
	}
	last := bytes.LastIndexByte(good[:len(good)-1], '\n') + 1
	at := bytes.Index(good, []byte(`"revocations":{"k1"`))
	if at < 0 {
		t.Fatalf("no revocation of k1 in\n%s", good)
	}
	at += len(`"revocations":{"k`)
	flipped := bytes.Clone(good)
	flipped[at] ^= 0x01 // "k1" -> "k0": the revocation names no key
	cases := map[string]struct {
		b    []byte
		want error
	}{
		"bit flipped":       {flipped, errLKGSumDiffers},
		"last line cut":     {good[:last], errLKGNoChecksum},
		"torn mid-checksum": {good[:len(good)-10], errLKGNoChecksum},
		"empty":             {nil, errLKGNoChecksum},
		// The checksum line with its `{"sha256":"` cut off: the right
		// digest, but not the line writeLKG writes.
		"checksum line without its prefix": {append(bytes.Clone(good[:last]), good[last+len(lkgChecksumPrefix):]...), errLKGNoChecksum},
	}
	for name, c := range cases {
		if err := os.WriteFile(path, c.b, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := readLKGFile(dir)
		if err == nil {
			t.Errorf("%s: loaded, revocations %v; want refused", name, l.State.Revocations)
		} else if !errors.Is(err, c.want) {
			t.Errorf("%s: %v; want %v", name, err, c.want)
		}
	}
}
