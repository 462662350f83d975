package etcdsync

import (
	"encoding/json"
	"maps"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

var (
	fuzzDocOnce sync.Once
	fuzzDoc     *policy.Document
)

// exampleDoc loads the example policy once for the fuzz targets.
func exampleDoc(t *testing.T) *policy.Document {
	t.Helper()
	fuzzDocOnce.Do(func() {
		b, err := os.ReadFile("../../examples/policy.yaml")
		if err == nil {
			fuzzDoc, err = policy.Load("policy.yaml", b)
		}
		if err != nil {
			t.Fatal(err)
		}
	})
	return fuzzDoc
}

// FuzzRecord feeds one record of any content under keys/, revocations/,
// suspensions/ or members/ (seed corpus in testdata/fuzz/FuzzRecord) to
// the decoding a Syncer and the admin reads do. Whatever it holds, the
// example policy still compiles with it (issue 13 item 2: only the policy
// record can keep the old snapshot), a revocation revokes, a suspension
// that does not decode suspends, and a key record is either used under its
// own name or reported.
func FuzzRecord(f *testing.F) {
	f.Fuzz(func(t *testing.T, dir, name, value string) {
		if name == "" {
			return // not a record: layout ignores the bare directory
		}
		if dir == "members" {
			if m, err := DecodeMember([]byte(value)); err == nil && m.Pod == "" {
				t.Fatal("a member record without a pod decoded")
			}
			return
		}
		st := newState()
		m := map[string]map[string]string{"keys": st.Keys, "revocations": st.Revocations, "suspensions": st.Suspensions}[dir]
		if m == nil {
			return
		}
		m[name] = value
		now := time.Unix(1_900_000_000, 0)
		live, bad := st.live(now, nil)
		checkLive(t, dir, name, value, live, bad)
		if _, err := policy.Compile(exampleDoc(t), live); err != nil {
			t.Fatalf("the policy does not compile with %s record %q = %q: %v", dir, name, value, err)
		}
	})
}

// checkLive checks what live made of the one record name under dir.
func checkLive(t *testing.T, dir, name, value string, live policy.Live, bad []string) {
	t.Helper()
	switch dir {
	case "keys":
		used := len(live.Keys) == 1 && live.Keys[0].ID == name
		if used == (len(bad) == 1) {
			t.Fatalf("key record %q = %q: used %v and reported %q", name, value, used, bad)
		}
	case "revocations":
		jti, isJTI := strings.CutPrefix(name, JTIPrefix)
		if isJTI && !live.RevokedJTIs[jti] || !isJTI && !live.RevokedKeys[name] {
			t.Fatalf("revocation record %q = %q revokes nothing", name, value)
		}
	case "suspensions":
		if _, err := DecodeSuspension(value); err != nil {
			if _, ok := live.Suspended[name]; !ok || len(bad) != 1 {
				t.Fatalf("undecodable suspension %q = %q: suspended %v, reported %q", name, value, ok, bad)
			}
		}
	}
}

// FuzzLKG feeds decodeLKG any last-known-good file (seed corpus in
// testdata/fuzz/FuzzLKG). A file it accepts holds a policy and record maps
// the Syncer can use, and survives being written and read again.
func FuzzLKG(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := decodeLKG("fuzz.json", b)
		if err != nil {
			return
		}
		if l.State == nil || l.State.Policy == "" || l.State.Keys == nil || l.State.Revocations == nil || l.State.Suspensions == nil {
			t.Fatalf("accepted a state without policy or maps: %+v", l.State)
		}
		l.State.live(time.Unix(1_900_000_000, 0), nil)
		again, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		l2, err := decodeLKG("fuzz.json", again)
		if err != nil {
			t.Fatalf("re-encoded file refused: %v", err)
		}
		if !l2.State.equal(l.State) || l2.State.Revision != l.State.Revision || !maps.Equal(l2.State.Keys, l.State.Keys) {
			t.Fatal("re-encoded file decodes to another state")
		}
	})
}
