package evidence

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestOldKeyHeadPastRotationIsNotTheCollectors: after the store's key was
// rotated, someone holding the old key (leaked) and write to etcd's head
// key puts a head signed by it naming a segment before the rotation and
// an entry far past it, dated later than the collector's heads. It is
// not the collector's head: the pack names it INCOMPLETE and dates
// nothing with it. Before, the old key's head opened (the key was chosen
// by the segment the head names alone) and dated revisions.
func TestOldKeyHeadPastRotationIsNotTheCollectors(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 5, 12, 0, 0, 0, 0, time.UTC)
	tok := collector.SenderToken{Name: "sidecar-x", Token: tokenA}
	r := newMemberRig(t, day.Add(-time.Hour), tok)
	r.send(r.emitter("pod-x", tokenA))
	r.publishHead()
	r.set(day.Add(6 * time.Hour))
	old := r.key
	r.rotateKey(tok)
	r.publishHead()
	r.set(day.Add(8 * time.Hour))
	r.send(r.emitter("pod-y", tokenA))
	r.set(day.Add(9 * time.Hour))
	r.publishHead()

	payload, err := json.Marshal(map[string]any{"segment": 1, "seq": 1000, "hash": strings.Repeat("ab", 32), "time": day.Add(10 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	sig := ed25519.Sign(old, append([]byte("portcullis-audit-head-v1\n"), payload...))
	doc, err := json.Marshal(map[string]any{"payload": json.RawMessage(payload), "signature": base64.StdEncoding.EncodeToString(sig)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.admin.PublishHead(r.ctx, doc); err != nil {
		t.Fatal(err)
	}
	r.set(day.Add(25 * time.Hour))
	res := r.pack("2026-05-12")
	found := false
	for _, w := range res.Warnings {
		if strings.Contains(w, "INCOMPLETE") && strings.Contains(w, "audit head") {
			found = true
		}
	}
	if !found {
		t.Errorf("the old key's head past the rotation was taken as the collector's: warnings %q", res.Warnings)
	}
}
