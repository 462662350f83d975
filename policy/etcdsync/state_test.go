package etcdsync

import (
	"bufio"
	"strings"
	"testing"
	"time"
)

// The decode cache of key records is keyed by the record's name: a
// record is taken from it only under the name it was decoded for. Keyed by
// the JSON alone, a record copied to another name after the first was
// deleted was served from the cache as the key it names, and the check
// that a record's id is its name was skipped (issue 13: such a record
// authenticates nothing).
func TestKeyCacheByName(t *testing.T) {
	const rec = `{"id":"acmehris1","client":"acme-hris","sha256":"` + zeros64 + `"}`
	var cache keyCache
	st := newState()
	st.Keys["acmehris1"] = rec
	live, bad := st.live(time.Now(), &cache)
	if len(live.Keys) != 1 || len(bad) != 0 {
		t.Fatalf("first state: %d keys, problems %q; want the record", len(live.Keys), bad)
	}

	delete(st.Keys, "acmehris1")
	st.Keys["otherkey1"] = rec
	live, bad = st.live(time.Now(), &cache)
	if len(live.Keys) != 0 {
		t.Errorf("a record under another name was taken as key %q", live.Keys[0].ID)
	}
	if len(bad) != 1 || !strings.Contains(bad[0], `"otherkey1"`) || !strings.Contains(bad[0], `holds id "acmehris1"`) {
		t.Errorf("problems %q; want otherkey1 reported as holding id acmehris1", bad)
	}
}

// A record whose JSON changes under the same name is decoded again, and
// the keys come out sorted by id whatever the map order.
func TestKeyCacheChanged(t *testing.T) {
	var cache keyCache
	st := newState()
	for _, id := range []string{"keyccccc", "keyaaaaa", "keybbbbb"} {
		st.Keys[id] = `{"id":"` + id + `","client":"c","sha256":"` + zeros64 + `"}`
	}
	st.live(time.Now(), &cache)
	st.Keys["keybbbbb"] = `{"id":"keybbbbb","client":"c","sha256":"` + zeros64 + `","revoked":true}`
	live, _ := st.live(time.Now(), &cache)
	var ids []string
	for _, k := range live.Keys {
		ids = append(ids, k.ID)
		if k.Revoked != (k.ID == "keybbbbb") {
			t.Errorf("key %s revoked %v after keybbbbb's record changed", k.ID, k.Revoked)
		}
	}
	if got := strings.Join(ids, " "); got != "keyaaaaa keybbbbb keyccccc" {
		t.Errorf("keys %q, want sorted by id", got)
	}
}

const zeros64 = "0000000000000000000000000000000000000000000000000000000000000000"

// A suspension past its until holds in a state read from etcd (its lease
// takes the record away) and lapses in the last-known-good file, which
// cannot see the lease.
func TestSuspensionLapsesInFileOnly(t *testing.T) {
	now := time.Now()
	rec := `{"client":"acme-hris","until":"` + now.Add(-time.Minute).UTC().Format(time.RFC3339) + `"}`
	st := newState()
	st.Policy = "version: 1"
	st.Suspensions["acme-hris"] = rec
	if live, _ := st.Live(now); len(live.Suspended) != 1 {
		t.Error("read from etcd: a suspension whose record is there is not in force")
	}
	var b strings.Builder
	w := bufio.NewWriter(&b)
	encodeLKG(w, st, now)
	w.Flush()
	l, err := decodeLKG("lkg", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if live, _ := l.State.Live(now); len(live.Suspended) != 0 {
		t.Error("read from the last-known-good file: a suspension past its until is in force")
	}
}
