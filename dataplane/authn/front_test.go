package authn

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/policytest"
)

// Two keys whose front hashes share a slot both stay in the front: each
// verifies from it in turn, with no allocation, where with one slot each
// they displaced each other and every request of one was verified the
// long way and allocated a front entry (issue 18).
func TestFrontKeepsSharedSlot(t *testing.T) {
	doc, keys := policytest.Document(policytest.Size{Keys: 64})
	snap, err := policy.Compile(doc, policy.Live{})
	if err != nil {
		t.Fatal(err)
	}
	f, v := NewFront(snap), newKeys(t)
	a, b := sharedSlot(t, f, keys)
	now := time.Now().UnixNano()
	for _, k := range [][]byte{a, b} {
		if rec, _, _, _ := v.VerifyFront(f, k, now); rec == nil {
			t.Fatalf("%.16s... did not verify", k)
		}
	}
	v.Wait()
	for range 2 {
		for _, k := range [][]byte{a, b} {
			if rec, _, hit, _ := v.VerifyFront(f, k, now); rec == nil || !hit {
				t.Fatalf("%.16s... after both verified: rec %v, hit %v; want a front hit", k, rec, hit)
			}
		}
	}
	allocs := testing.AllocsPerRun(100, func() {
		v.VerifyFront(f, a, now)
		v.VerifyFront(f, b, now)
	})
	if allocs != 0 {
		t.Errorf("two keys of one slot in turn: %v allocations, want 0", allocs)
	}
}

// sharedSlot returns two of keys whose front hashes pick the same slot of f.
func sharedSlot(t *testing.T, f *Front, keys []string) (a, b []byte) {
	t.Helper()
	seen := map[uint64]string{}
	for _, k := range keys {
		i := frontHash([]byte(k)) & f.mask
		if prev, ok := seen[i]; ok {
			return []byte(prev), []byte(k)
		}
		seen[i] = k
	}
	t.Fatalf("no two of %d keys share a slot of %d", len(keys), len(f.slots))
	return nil, nil
}
