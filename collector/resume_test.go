package collector

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// TestConfirmedWitnessFile: the confirmed witness goes round through its
// file beside events.rev; a missing file is none, and a damaged one is an
// error that names the file and the way out, never taken as none.
func TestConfirmedWitnessFile(t *testing.T) {
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	path := WitnessPath(filepath.Join(dir, "events.rev"))
	if path != filepath.Join(dir, "events.witness") {
		t.Fatalf("WitnessPath = %q", path)
	}
	if w, err := ReadConfirmedWitness(path, pub); err != nil || w != (etcdadmin.Witness{}) {
		t.Fatalf("missing file: %+v, %v; want the zero Witness", w, err)
	}
	want := etcdadmin.Witness{Key: "/p/events/00000000000000000007-e", Revision: 42}
	if err := WriteConfirmedWitness(path, key, want); err != nil {
		t.Fatal(err)
	}
	if w, err := ReadConfirmedWitness(path, pub); err != nil || w != want {
		t.Fatalf("read back %+v, %v; want %+v", w, err, want)
	}
	if err := WriteConfirmedWitness(path, key, etcdadmin.Witness{}); err != nil {
		t.Fatal(err)
	}
	if w, err := ReadConfirmedWitness(path, pub); err != nil || w != (etcdadmin.Witness{}) {
		t.Fatalf("after a rewind: %+v, %v; want the zero Witness", w, err)
	}
	// With the first event stored since (TestForwardEventsRestartedKeepsTheFirstEventSinceTheCheck).
	ws := etcdadmin.Witnesses{Confirmed: want, First: etcdadmin.Witness{Key: "/p/events/00000000000000000008-e", Revision: 43}}
	if err := WriteWitnesses(path, key, ws); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadWitnesses(path, pub); err != nil || got != ws {
		t.Fatalf("read back %+v, %v; want %+v", got, err, ws)
	}
	// With what the follower proved of etcd's authentication
	// (TestFollowRestartedBindsOnlyWhileAuthStayedOn).
	ws.Auth = etcdadmin.AuthMark{Revision: 7, After: 40}
	if err := WriteWitnesses(path, key, ws); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadWitnesses(path, pub); err != nil || got != ws {
		t.Fatalf("read back %+v, %v; want %+v", got, err, ws)
	}
	for _, bad := range []string{"", "42\n", `{"key":"/p/events/x","revision":-1}`, `{"key":"","revision":9}`, `{"key":"/p/events/x","revision":0}`, `{"key":"/p/e` + "\n", `{"key":"/p/events/x","revision":9,"first":{"key":"","revision":10}}`, `{"key":"","revision":0,"auth":{"auth_revision":7,"on_after_revision":-1}}`} {
		if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := ReadConfirmedWitness(path, pub)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "delete it") {
			t.Errorf("%q: %v; want an error naming the file and what to do", bad, err)
		}
	}
}
