package collector

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/rs/zerolog"
)

// TestWitnessFilePlantedIsNotTrusted: events.witness was plain JSON, so
// anyone who could write the collector's directory set what the follower
// took as proven of etcd's history and authentication: an AuthMark
// claiming authentication on since revision 1 bound every event under
// events-by/ written while the collector was down, authentication off or
// not. A witness the store's key did not sign is not trusted: an
// unsigned one (as collectors before wrote it) is read as none and
// reported (ErrWitnessNotTrusted); one edited after it was signed, or
// signed by another key, is an error naming the file.
func TestWitnessFilePlantedIsNotTrusted(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	path := WitnessPath(filepath.Join(dir, "events.rev"))
	put := func(b []byte) {
		t.Helper()
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	planted := `{"key":"/p/events/00000000000000000007-e","revision":42,"auth":{"auth_revision":9,"on_after_revision":1}}` + "\n"
	put([]byte(planted))
	ws, err := ReadWitnesses(path, pub)
	if !errors.Is(err, ErrWitnessNotTrusted) || ws != (etcdadmin.Witnesses{}) || !strings.Contains(err.Error(), path) {
		t.Fatalf("unsigned witness read as %+v, %v; want none, not trusted", ws, err)
	}

	signed := etcdadmin.Witnesses{Confirmed: etcdadmin.Witness{Key: "/p/events/00000000000000000007-e", Revision: 42}, Auth: etcdadmin.AuthMark{Revision: 9, After: 40}}
	if err := WriteWitnesses(path, key, signed); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	put(bytes.Replace(b, []byte(`"on_after_revision":40`), []byte(`"on_after_revision":1`), 1))
	if bytes.Equal(b, mustRead(t, path)) {
		t.Fatal("the edit did not apply: the test did not reach its case")
	}
	if ws, err := ReadWitnesses(path, pub); err == nil || errors.Is(err, ErrWitnessNotTrusted) || ws != (etcdadmin.Witnesses{}) || !strings.Contains(err.Error(), "not signed by the store's key") {
		t.Fatalf("edited witness read as %+v, %v; want an error", ws, err)
	}

	other := newTestKey(t)
	if err := WriteWitnesses(path, other, signed); err != nil {
		t.Fatal(err)
	}
	if ws, err := ReadWitnesses(path, pub); err == nil || errors.Is(err, ErrWitnessNotTrusted) || ws != (etcdadmin.Witnesses{}) {
		t.Fatalf("witness of another key read as %+v, %v; want an error", ws, err)
	}
	// Signed by a key the store rotated away from: reported, read as none.
	if ws, _, err := readWitnesses(path, pub, []ed25519.PublicKey{other.Public().(ed25519.PublicKey)}); !errors.Is(err, ErrWitnessNotTrusted) || ws != (etcdadmin.Witnesses{}) {
		t.Fatalf("witness of an older key read as %+v, %v; want none, not trusted", ws, err)
	}
	// A head signed by the store's key is no witness.
	doc, _, err := signDoc(key, domainHead, witnessFile{Key: "/p/events/x", Revision: 5})
	if err != nil {
		t.Fatal(err)
	}
	put(doc)
	if ws, err := ReadWitnesses(path, pub); err == nil || ws != (etcdadmin.Witnesses{}) {
		t.Fatalf("a head read as witness %+v, %v; want an error", ws, err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFollowerReplacesAnUntrustedWitness: the follower reads an unsigned
// witness (one a collector before this version wrote) as none, says so
// in a warn line naming the file, and replaces it at once by a signed
// empty one, so that it is reported once and the next read trusts it.
func TestFollowerReplacesAnUntrustedWitness(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	st, err := OpenStore(dir, StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	path := WitnessPath(filepath.Join(dir, "events.rev"))
	if err := os.WriteFile(path, []byte(`{"key":"/p/events/x","revision":42,"auth":{"auth_revision":9,"on_after_revision":1}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	got, ws, err := trustedWitnesses(path, st, zerolog.New(&logs))
	if err != nil || !got.Equal(key) || ws != (etcdadmin.Witnesses{}) {
		t.Fatalf("trustedWitnesses = %v, %+v, %v; want the store's key and none", got.Equal(key), ws, err)
	}
	if !strings.Contains(logs.String(), `"level":"warn"`) || !strings.Contains(logs.String(), path) {
		t.Fatalf("log %q: want a warn line naming %s", logs.String(), path)
	}
	logs.Reset()
	if _, ws, err := trustedWitnesses(path, st, zerolog.New(&logs)); err != nil || ws != (etcdadmin.Witnesses{}) || logs.Len() != 0 {
		t.Fatalf("read again: %+v, %v, log %q; want a trusted empty witness and no line", ws, err, logs.String())
	}
}
