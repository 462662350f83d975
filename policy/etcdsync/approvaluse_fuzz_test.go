package etcdsync_test

import (
	"slices"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// FuzzApprovalUse feeds any key under approval-uses/ (a sidecar may write
// anything there) and any taken use numbers (seed corpus in
// testdata/fuzz/FuzzApprovalUse). A key parses only when it is the key
// ApprovalUse makes of a valid id and a use number from 1, and Tally never
// counts more uses than max_uses allows nor offers a use number taken or
// outside (stored uses, max_uses].
func FuzzApprovalUse(f *testing.F) {
	f.Add("apr_1/1", 0, 1, []byte{1})
	f.Add("apr_1/01", 1, 3, []byte{2, 2, 9})
	f.Fuzz(func(t *testing.T, rest string, stored, maxUses int, taken []byte) {
		k := etcdsync.NewLayout("/p")
		key := k.ApprovalUsesDir() + rest
		if id, n, ok := k.ParseApprovalUse(key); ok && (k.ApprovalUse(id, n) != key || !etcdsync.ValidApprovalID(id) || n < 1) {
			t.Errorf("ParseApprovalUse(%q) = %q %d: not the key of that use", key, id, n)
		}
		stored, maxUses = stored%1000, maxUses%1000
		if stored < 0 || maxUses < 0 {
			return
		}
		nums := make([]int, len(taken))
		for i, b := range taken {
			nums[i] = int(b)
		}
		a := etcdsync.Approval{Uses: stored, MaxUses: maxUses}
		uses, next := a.Tally(slices.Compact(slices.Sorted(slices.Values(nums))))
		if uses > max(stored, maxUses) || uses < stored {
			t.Errorf("Tally(%v) with %d stored, max %d = %d uses", nums, stored, maxUses, uses)
		}
		if next != 0 && (next <= stored || next > maxUses || slices.Contains(nums, next)) {
			t.Errorf("Tally(%v) with %d stored, max %d offers use %d", nums, stored, maxUses, next)
		}
		if next == 0 && uses < maxUses {
			t.Errorf("Tally(%v) with %d stored, max %d: %d uses and none offered", nums, stored, maxUses, uses)
		}
	})
}
