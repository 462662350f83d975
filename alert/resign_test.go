package alert

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestResignSnapshotOnlyTheOldKeysBeforeTheRotation: ResignSnapshot signs
// again, with the new key, a snapshot the old key signed at a position
// before the rotation, and nothing else: a snapshot of another key, or
// at or past the rotation (which the old key, rotated out and perhaps
// leaked, signed nothing of), is left as it is, not signed by the new key.
func TestResignSnapshotOnlyTheOldKeysBeforeTheRotation(t *testing.T) {
	t.Parallel()
	key := func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	old, next, other := key(), key(), key()
	for _, tc := range []struct {
		name   string
		signer ed25519.PrivateKey
		seq    uint64
		until  uint64
		want   bool
	}{
		{"old key before the rotation", old, 5, 6, true},
		{"old key at the rotation", old, 6, 6, false},
		{"old key past the rotation", old, 9, 6, false},
		{"another key", other, 5, 6, false},
		{"no rotation from the old key", old, 5, 0, false},
	} {
		file := filepath.Join(t.TempDir(), "snapshot.json")
		payload := []byte(fmt.Sprintf(`{"version":4,"seq":%d}`, tc.seq))
		doc, err := json.Marshal(snapshotFile{Payload: payload, Sig: ed25519.Sign(tc.signer, signedSnapshot(payload))})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, doc, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := ResignSnapshot(file, old, next, tc.until)
		if err != nil || got != tc.want {
			t.Errorf("%s: ResignSnapshot = %v, %v; want %v", tc.name, got, err, tc.want)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var f snapshotFile
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatal(err)
		}
		if byNext := ed25519.Verify(next.Public().(ed25519.PublicKey), signedSnapshot(f.Payload), f.Sig); byNext != tc.want || string(f.Payload) != string(payload) {
			t.Errorf("%s: signed by the new key %v, payload %s; want %v and the payload unchanged", tc.name, byNext, f.Payload, tc.want)
		}
	}
	if got, err := ResignSnapshot(filepath.Join(t.TempDir(), "none.json"), old, next, 6); got || err != nil {
		t.Errorf("no snapshot: ResignSnapshot = %v, %v; want nothing done", got, err)
	}
}
