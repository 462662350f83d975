package etcdsync_test

import (
	"testing"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// FuzzApprovalUse feeds any key under approval-uses/ (a sidecar may write
// anything there) and any counter (seed corpus in
// testdata/fuzz/FuzzApprovalUse). A key parses only when it is the key
// ApprovalCounter makes of a valid id, and Count never counts fewer uses
// than the counter's versions since the grant nor more than max_uses, and
// a counter not created with the grant leaves nothing to use.
func FuzzApprovalUse(f *testing.F) {
	f.Add("apr_1", int64(5), int64(5), int64(1), 1)
	f.Add("apr_1/01", int64(5), int64(6), int64(9), 3)
	f.Fuzz(func(t *testing.T, rest string, rec, create, version int64, maxUses int) {
		k := etcdsync.NewLayout("/p")
		key := k.ApprovalUsesDir() + rest
		if id, ok := k.ParseApprovalCounter(key); ok && (k.ApprovalCounter(id) != key || !etcdsync.ValidApprovalID(id)) {
			t.Errorf("ParseApprovalCounter(%q) = %q: not the key of that counter", key, id)
		}
		maxUses %= 1000
		if maxUses < 1 {
			return
		}
		a := etcdsync.Approval{UsesCounter: true, Uses: maxUses, MaxUses: maxUses}
		a.Count(rec, etcdsync.Counter{Create: create, Version: version})
		if a.Uses < 0 || a.Uses > maxUses {
			t.Errorf("Count(%d, %d/%d) max %d = %d uses", rec, create, version, maxUses, a.Uses)
		}
		if create != rec && a.Uses != maxUses {
			t.Errorf("Count(%d, %d/%d) of a counter not the grant's = %d uses, want used up", rec, create, version, a.Uses)
		}
		if create == rec && version >= 1 && a.Uses < maxUses && int64(a.Uses) != version-1 {
			t.Errorf("Count(%d, %d/%d) = %d uses, want version-1", rec, create, version, a.Uses)
		}
	})
}
