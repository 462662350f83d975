package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/collector"
)

// TestCollectorRotatesSigningKey: `portcullis collector --signing-key NEW
// --previous-signing-key OLD` on a store of OLD writes the key rotation
// and serves, and `audit verify` then passes with either public key and
// fails with another. Before, a collector given a new key refused the
// store for good (`digest ... does not verify with the signing key`), as
// it still does without --previous-signing-key.
func TestCollectorRotatesSigningKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, tokenFile := filepath.Join(dir, "data"), filepath.Join(dir, "tokens")
	keys := map[string]string{}
	for _, name := range []string{"old", "new", "other"} {
		keys[name] = filepath.Join(dir, name+".key")
		if r := portcullis(t, "", nil, "audit", "keygen", "--out", keys[name]); r.code != 0 {
			t.Fatalf("audit keygen: exit %d, %s", r.code, r.stderr)
		}
	}
	if err := os.WriteFile(tokenFile, []byte("sidecar-a rotation-test-collector-token-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	oldKey, err := collector.LoadPrivateKey(keys["old"])
	if err != nil {
		t.Fatal(err)
	}
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: oldKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendEvents([]collector.Event{{Action: "policy.push", Actor: "ops"}}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	args := []string{"collector", "--listen", freeAddr(t), "--data", data, "--signing-key", keys["new"], "--token-file", tokenFile}
	if r := portcullisWithin(t, pollWait, args...); r.code != 1 || !strings.Contains(r.stderr, "does not verify with the signing key") {
		t.Errorf("a new key without --previous-signing-key = exit %d, stderr %q; want the store refused", r.code, r.stderr)
	}
	out := startChild(t, "", nil, true, append(args, "--previous-signing-key", keys["old"])...)
	poll(t, "the collector to rotate its key and listen", func() bool {
		return strings.Contains(out.String(), "signing key rotated") && strings.Contains(out.String(), "collector listening")
	})
	for _, name := range []string{"new", "old"} {
		r := portcullis(t, "", nil, "audit", "verify", "--data", data, "--public-key", keys[name]+".pub", "--json")
		if r.code != 0 || !strings.Contains(r.stdout, `"key_rotations":1`) {
			t.Errorf("audit verify with the %s key = exit %d, stdout %q, stderr %q; want ok with one key rotation", name, r.code, r.stdout, r.stderr)
		}
	}
	if r := portcullis(t, "", nil, "audit", "verify", "--data", data, "--public-key", keys["new"]+".pub"); r.code != 0 || !strings.Contains(r.stdout, "signing key rotated 1 time(s)") {
		t.Errorf("audit verify = exit %d, stdout %q; want it to say the key was rotated once", r.code, r.stdout)
	}
	if r := portcullis(t, "", nil, "audit", "verify", "--data", data, "--public-key", keys["other"]+".pub"); r.code != 1 {
		t.Errorf("audit verify with another key = exit %d, stdout %q; want 1", r.code, r.stdout)
	}
}
