package evidence

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// rotateKey restarts the rig's collector with a new signing key and the
// old one as its previous key, as `portcullis collector --signing-key new
// --previous-signing-key old` does: the store's key is rotated.
func (r *memberRig) rotateKey(tokens ...collector.SenderToken) {
	r.t.Helper()
	r.close()
	if err := r.st.Close(); err != nil {
		r.t.Fatal(err)
	}
	old, next := r.key, newKey(r.t)
	st, err := collector.OpenStore(r.data, collector.StoreConfig{SigningKey: next, PreviousKey: old, Now: r.now})
	if err != nil {
		r.t.Fatal(err)
	}
	if now, _ := st.KeyRotated(); !now {
		r.t.Fatal("the store's key was not rotated")
	}
	col, err := collector.New(st, collector.Config{Tokens: tokens, MaxBodyBytes: 1 << 20, Now: r.now})
	if err != nil {
		r.t.Fatal(err)
	}
	srv := httptest.NewServer(col)
	r.st, r.key, r.url, r.close = st, next, srv.URL, srv.Close
}

// TestPackSpanningKeyRotationIsComplete: the heads put in etcd before the
// store's key was rotated are the old key's, those after the new key's;
// the pack, given the new key, checks each against the key that signed
// the store at the entry it names, so a day spanning the rotation is one
// complete pack. Before, every head of the old key was named INCOMPLETE
// ("not the collector's heads in order"): the pack had one key and no
// record of a rotation.
func TestPackSpanningKeyRotationIsComplete(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 5, 12, 0, 0, 0, 0, time.UTC)
	tok := collector.SenderToken{Name: "sidecar-x", Token: tokenA}
	r := newMemberRig(t, day.Add(-time.Hour), tok)
	r.send(r.emitter("pod-x", tokenA))
	r.publishHead()
	for _, h := range []time.Duration{2, 4} {
		r.set(day.Add(h * time.Hour))
		r.publishHead()
	}
	r.set(day.Add(6 * time.Hour))
	r.rotateKey(tok)
	r.publishHead()
	r.set(day.Add(8 * time.Hour))
	r.send(r.emitter("pod-y", tokenA))
	for _, h := range []time.Duration{9, 20, 25} {
		r.set(day.Add(h * time.Hour))
		r.publishHead()
	}
	res := r.pack("2026-05-12")
	for _, w := range res.Warnings {
		if strings.Contains(w, "INCOMPLETE") || strings.Contains(w, "audit head") {
			t.Errorf("warning %q in a pack spanning the key rotation", w)
		}
	}
	if res.Records != 1 {
		t.Errorf("records = %d, want 1 (pod-y's, stored after the rotation)", res.Records)
	}
}
